"""Narration jobs: long texts narrated in the background, kept on disk across restarts.

Each job is a folder under ``<state dir>/jobs/<id>``: ``job.json`` (what was asked and
where it stands), ``input.txt``, and, once finished, the audio and subtitle files.  A
server that starts finds the jobs that were queued or running and runs them again; their
clips come from the clip cache, so a job resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..cache import write_atomically
from ..errors import NarratorError, OptionError
from ..rendering import AudioFormat, Rendering, parse_bitrate
from .engines import EnginePool
from .voices import resolve

logger = logging.getLogger(__name__)

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued", "running", "completed", "failed", "cancelled",
)  # fmt: skip
UNFINISHED = (QUEUED, RUNNING)

_ID = re.compile(r"^nar_[0-9a-f]{32}$")
"""What a job id looks like (anything else is not looked up on disk)."""

SUBTITLE_FORMATS = ("srt", "vtt")

OPTIONS: dict[str, tuple[type, ...]] = {
    "voice": (str,), "format": (str,), "bitrate": (int, str), "speed": (int, float),
    "sentence_pause": (int, float), "paragraph_pause": (int, float),
    "heading_pause": (int, float), "scene_pause": (int, float), "loudness": (int, float),
    "true_peak": (int, float), "title": (str,), "author": (str,), "subtitles": (str,),
}  # fmt: skip
"""The options of a job (those of ``narrator read``) and the JSON types they take."""


class QueueFull(NarratorError):
    """Too many jobs are waiting."""


class Stopped(Exception):
    """Raised from the progress callback to end a running narration."""


@dataclass
class Job:
    """One narration job and where it stands."""

    id: str
    options: dict[str, Any]
    created_at: int
    status: str = QUEUED
    sentences_done: int = 0
    sentences_total: int = 0
    audio_seconds: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    chapters: list[dict[str, Any]] = field(default_factory=list)
    audio_file: str | None = None
    subtitle_file: str | None = None

    def view(self) -> dict[str, Any]:
        """The job as the API shows it."""
        elapsed = None
        eta = None
        if self.started_at is not None:
            elapsed = (self.finished_at or time.time()) - self.started_at
            done, total = self.sentences_done, self.sentences_total
            if self.status == RUNNING and done and total:
                eta = round(elapsed / done * (total - done), 1)
            elapsed = round(elapsed, 1)
        base = f"/v1/narrations/{self.id}"
        return {
            "id": self.id, "object": "narration", "created_at": self.created_at,
            "status": self.status, "options": self.options,
            "progress": {
                "sentences_done": self.sentences_done, "sentences_total": self.sentences_total,
                "audio_seconds": round(self.audio_seconds, 2), "elapsed_seconds": elapsed,
                "eta_seconds": eta,
            },
            "error": {"message": self.error} if self.error else None,
            "result": self.result, "chapters": self.chapters,
            "audio_url": f"{base}/audio" if self.audio_file else None,
            "subtitles_url": f"{base}/subtitles" if self.subtitle_file else None,
        }  # fmt: skip


def check_options(options: dict[str, Any]) -> tuple[Rendering, str | None]:
    """Check a job's *options* as ``narrator read`` checks its own: the rendering they make
    and the subtitle format; :class:`OptionError` naming what is wrong."""
    for key, value in options.items():
        types = OPTIONS.get(key)
        if types is None:
            raise OptionError(f"unknown option {key!r}; known: {', '.join(OPTIONS)}")
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise OptionError(f"{key} must be a {' or '.join(t.__name__ for t in types)}")
    given = {k: v for k, v in options.items() if v is not None}
    fmt = AudioFormat.parse(given.get("format", "mp3"))
    tags: dict[str, str] = {k: given[k] for k in ("title", "author") if k in given}
    rendering = Rendering(format=fmt, tags=tags).with_options(
        **{k: given.get(k) for k in ("sentence_pause", "paragraph_pause", "heading_pause",
                                      "scene_pause", "loudness", "true_peak")},
        bitrate=parse_bitrate(given["bitrate"]) if "bitrate" in given else None,
    )  # fmt: skip
    subtitles = given.get("subtitles")
    if subtitles is not None and subtitles not in SUBTITLE_FORMATS:
        raise OptionError(f"subtitles must be one of {', '.join(SUBTITLE_FORMATS)}")
    return rendering, subtitles


class JobManager:
    """Runs jobs one at a time on a thread of its own, in the order they came."""

    def __init__(self, state_dir: Path, pool: EnginePool, max_waiting: int) -> None:
        self.folder = state_dir / "jobs"
        self.pool = pool
        self.max_waiting = max_waiting
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[str] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._cancel: set[str] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the jobs on disk, queue again those that had not finished, and start."""
        self.folder.mkdir(parents=True, exist_ok=True)
        found = []
        for path in self.folder.glob("nar_*/job.json"):
            try:
                job = Job(**json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("%s: not a job narrator can read (%s); left alone", path, exc)
                continue
            found.append(job)
        for job in sorted(found, key=lambda j: (j.created_at, j.id)):
            self._jobs[job.id] = job
            if job.status in UNFINISHED:
                job.status = QUEUED
                self._waiting.append(job.id)
                logger.info("job %s resumes", job.id)
        self._thread = threading.Thread(target=self._run, name="narrator-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the sentence being narrated; unfinished jobs stay queued on disk."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()

    def submit(self, text: str, options: dict[str, Any]) -> Job:
        """Queue a job; :class:`QueueFull` when :attr:`max_waiting` are waiting already."""
        check_options(options)
        voice = resolve(options.get("voice")).voice
        if options.get("speed") is not None:
            voice.with_options(speed=float(options["speed"]))  # VoiceError when out of range
        job = Job(id=f"nar_{uuid.uuid4().hex}", options=options, created_at=int(time.time()))
        with self._wake:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(f"{len(self._waiting)} narrations are waiting already")
            folder = self.folder / job.id
            folder.mkdir(parents=True)
            write_atomically(folder / "input.txt", text.encode("utf-8"))
            self._save(job)
            self._jobs[job.id] = job
            self._waiting.append(job.id)
            self._wake.notify_all()
        return job

    def all(self) -> list[Job]:
        """Every job the server knows, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: str) -> Job | None:
        if not _ID.match(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def delete(self, job_id: str) -> Job | None:
        """Cancel a job (the running one stops after its sentence) and delete its files."""
        job = self.get(job_id)
        if job is None:
            return None
        with self._wake:
            self._jobs.pop(job_id, None)
            if job_id in self._waiting:
                self._waiting.remove(job_id)
            running = job.status == RUNNING
            if running:
                self._cancel.add(job_id)
            job.status = CANCELLED
        if not running:
            shutil.rmtree(self.folder / job_id, ignore_errors=True)
        return job

    def file(self, job: Job, which: str) -> Path | None:
        """The finished audio or subtitle file of *job*."""
        name = job.audio_file if which == "audio" else job.subtitle_file
        if job.status != COMPLETED or name is None:
            return None
        path = self.folder / job.id / name
        return path if path.is_file() else None

    def _save(self, job: Job) -> None:
        write_atomically(self.folder / job.id / "job.json",
                         json.dumps(asdict(job), indent=1).encode("utf-8"))  # fmt: skip

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._jobs[self._waiting.popleft()]
                job.status = RUNNING
                job.started_at = time.time()
                job.sentences_done = 0
            try:
                self._narrate(job)
            except Stopped:
                pass
            except NarratorError as exc:
                self._finish(job, FAILED, error=str(exc))
            except Exception as exc:  # a bug: the job fails, the server goes on
                logger.exception("job %s failed", job.id)
                self._finish(job, FAILED, error=f"{type(exc).__name__}: {exc}")

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        with self._lock:
            cancelled = job.status == CANCELLED
            if not cancelled:
                job.status, job.error, job.finished_at = status, error, time.time()
                self._save(job)
        if cancelled:
            self._cancel.discard(job.id)
            shutil.rmtree(self.folder / job.id, ignore_errors=True)

    def _narrate(self, job: Job) -> None:
        from ..pipeline import ProgressEvent, narrate

        folder = self.folder / job.id
        with self._lock:  # the status on disk says it may be resumed
            self._save(job)
        rendering, subtitles = check_options(job.options)
        choice = resolve(job.options.get("voice"))
        voice = choice.voice
        speed = job.options.get("speed")
        if speed is not None:
            voice = voice.with_options(speed=float(speed))
        text = (folder / "input.txt").read_text("utf-8")
        audio = f"audio.{rendering.format.value}"
        subtitle_name = f"subtitles.{subtitles}" if subtitles else None

        def progress(event: ProgressEvent) -> None:
            with self._lock:
                if job.id in self._cancel or self._stopping:
                    raise Stopped
                job.sentences_done, job.sentences_total = event.done, event.total
                job.audio_seconds = event.audio_seconds

        try:
            with self.pool.engine(voice) as engine:
                narration = narrate(
                    text, folder / audio, voice=voice, rendering=rendering, engine=engine,
                    progress=progress, fallback_title=job.options.get("title"),
                    subtitles=folder / subtitle_name if subtitle_name else None,
                )  # fmt: skip
        except Stopped:
            with self._lock:
                cancelled = job.id in self._cancel
                self._cancel.discard(job.id)
            if cancelled:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        job.result = narration.summary()
        job.result["output"] = audio
        job.chapters = [{"title": c.title, "start": round(c.start, 3), "end": round(c.end, 3)}
                        for c in narration.chapters]  # fmt: skip
        job.audio_file, job.subtitle_file = audio, subtitle_name
        self._finish(job, COMPLETED)
        with contextlib.suppress(OSError):
            (folder / "input.txt").unlink()
