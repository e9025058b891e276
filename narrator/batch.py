"""Many books at once: :func:`narrate_many`, under ``narrator batch``.

A batch runs in two overlapping phases.  First every book is *planned*: read
(:func:`narrator.books.load`), split with its voice's front end exactly as
:func:`~narrator.pipeline.narrate` splits it, and its chunks listed.  Then the
chunks of all the books of one voice go to one :class:`~narrator.synthesis.Synthesizer`
as a single stream, so the workers (threads, ``jobs`` processes, or Ray actors
through a :class:`~narrator.synthesis.WorkerPool`) stay busy across the ends of
books, and every clip lands in the content-addressed clip cache.  As soon as the
last clip of a book is in the cache, the book is stitched and mastered, on a
thread beside the synthesis, by the ordinary :func:`~narrator.pipeline.narrate`
with the same engine: every clip is a cache hit, so the file is the one
``narrator read`` makes of that book.

The clips come back to this process, which alone writes the cache (the workers
need no shared storage, and a cache is written by one process per run); two runs
sharing one cache folder write whole files by rename, so neither sees a part.
An interrupted batch resumes from the cache.  A book whose output exists is
skipped unless *force*: outputs are only ever moved into place complete (see
:mod:`narrator.destinations`), so an existing non-empty file whose length can be
read is a finished book.  A book that fails is reported and the others go on.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .books import Document, load, read_cover, title_from_name
from .cache import ClipCache
from .engines import Engine, load_engine
from .errors import InputError, NarratorError, OptionError
from .language import AUTO_VOICE, auto_voice, text_language
from .rendering import AudioFormat, Rendering
from .synthesis import Synthesizer, WorkerPool
from .text import split_text
from .text.chunks import fit
from .text.reader import MAX_INPUT_BYTES
from .voices import Voice, load_voice

logger = logging.getLogger(__name__)

DEFAULT_PATTERN = "{stem}.{format}"
"""How an output is named in the output folder: ``{stem}`` is the input's name without
its suffix, ``{name}`` with it, ``{format}`` the audio format (``mp3``)."""

RENDERING_OPTIONS = ("sentence_pause", "paragraph_pause", "heading_pause", "scene_pause",
                     "loudness", "true_peak", "bitrate")  # fmt: skip
"""The :class:`Rendering` fields a job may set for its book."""


@dataclass
class Job:
    """One book of a batch: what to read, where to write it, and its own options (None
    keeps the batch's)."""

    input: Path
    output: Path | None = None
    """The audio file; None names it in the output folder with the batch's pattern."""
    voice: str | Path | Voice | None = None
    speed: float | None = None
    speaker: str | None = None
    seed: int | None = None
    title: str | None = None
    author: str | None = None
    format: str | None = None
    """The audio format (``mp3``...), when *output* has no suffix that tells it."""
    rendering: dict[str, Any] = field(default_factory=dict)
    """Values of :data:`RENDERING_OPTIONS` for this book."""
    lexicon: Path | None = None
    subtitles: Path | None = None
    split_chapters: bool = False
    input_format: str | None = None
    extract: bool | None = None
    """HTML: only the page's article (None: on for HTML files, as for ``read``)."""
    skip_notes: bool = False
    chapters: str | None = None
    """Only these chapters (``3-7,10``), as ``read --chapters``."""
    cover: Path | None = None
    problem: str | None = None
    """Why this job cannot run (a manifest row that could not be read): it fails with it."""


@dataclass
class BookResult:
    """What became of one job."""

    input: Path
    output: Path | None
    status: str
    """``made``, ``skipped`` (its output exists; see :func:`is_complete`) or ``failed``."""
    reason: str | None = None
    """Why it failed, in one line."""
    exit_code: int = 0
    """What ``narrator read`` would have exited with on this book."""
    summary: dict[str, Any] = field(default_factory=dict)
    """:meth:`~narrator.pipeline.Narration.summary` of a book made."""
    sentences: int = 0
    """Chunks of text spoken (every one a clip in the cache)."""
    synthesized: int = 0
    """Of those, the clips this batch made (the rest came from the cache)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.input), **self.summary,
            "output": str(self.output) if self.output else None, "status": self.status,
            "reason": self.reason, "sentences": self.sentences, "synthesized": self.synthesized,
            "cache_hits": self.sentences - self.synthesized,
        }  # fmt: skip


@dataclass
class BatchReport:
    """What :func:`narrate_many` did."""

    books: list[BookResult]
    elapsed: float = 0.0

    @property
    def failed(self) -> list[BookResult]:
        return [book for book in self.books if book.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when no book failed, else 1 (each failure is reported on its own line)."""
        return 1 if self.failed else 0

    def totals(self) -> dict[str, Any]:
        made = [book for book in self.books if book.status == "made"]
        audio = sum(book.summary.get("duration") or 0.0 for book in made)
        return {
            "total": True, "books": len(self.books), "made": len(made),
            "skipped": sum(book.status == "skipped" for book in self.books),
            "failed": len(self.failed), "audio_seconds": round(audio, 3),
            "sentences": sum(book.sentences for book in self.books),
            "synthesized": sum(book.synthesized for book in self.books),
            "elapsed": round(self.elapsed, 3),
        }  # fmt: skip


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands: after each clip and after each book."""

    books_done: int
    """Books made, skipped or failed."""
    books: int
    sentences_done: int
    """Chunks whose clips are in the cache (made now or found there)."""
    sentences: int
    """Chunks of all the books planned."""
    audio_seconds: float
    """Seconds of speech in the clips made or found so far."""
    elapsed: float
    book: BookResult | None = None
    """The book just finished, if this event is about one."""

    @property
    def throughput(self) -> float:
        """Seconds of speech per second of wall time."""
        return self.audio_seconds / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, at the pace so far (None before the first clip)."""
        if not self.sentences_done:
            return None
        return self.elapsed / self.sentences_done * (self.sentences - self.sentences_done)


BatchProgressFn = Callable[[BatchProgress], None]


def is_complete(path: Path) -> bool:
    """Whether *path* is a finished narration.  narrator moves outputs into place only
    once they are whole (:mod:`narrator.destinations`), so a non-empty regular file is
    one; where libsndfile reads the format, its length must read too."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
    except OSError:
        return False
    import soundfile

    try:
        return soundfile.info(str(path)).frames > 0
    except Exception:  # a format libsndfile does not read (M4A): existence decides
        return AudioFormat.from_suffix(path.suffix) in (AudioFormat.M4A, AudioFormat.M4B)


def find_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """The files *paths* name: a file as it is, a folder's readable inputs (every suffix
    :data:`narrator.books.SUFFIXES` knows, in name order, not recursing)."""
    from .books import SUFFIXES

    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in SUFFIXES)  # fmt: skip
        else:
            found.append(path)
    return found


# Manifest columns, and how each value is read.
_FLOATS = {"speed", "sentence_pause", "paragraph_pause", "heading_pause", "scene_pause",
           "loudness", "true_peak"}  # fmt: skip
_INTS = {"seed"}
_PATHS = {"input", "output", "lexicon", "subtitles", "cover"}
_FLAGS = {"split_chapters", "skip_notes", "extract"}
_TEXTS = {"voice", "speaker", "title", "author", "format", "bitrate", "input_format", "chapters"}
MANIFEST_COLUMNS = tuple(sorted(_FLOATS | _INTS | _PATHS | _FLAGS | _TEXTS))
"""What a manifest row may hold; ``input`` is required."""


def read_manifest(path: str | Path) -> list[Job]:
    """The jobs of a manifest: a ``.csv`` file with a header row, or ``.jsonl`` (one JSON
    object a line).  Relative paths are taken from the manifest's folder.  A column no
    job knows is an :class:`OptionError`; a row with a bad value becomes a job that fails
    with the reason (:attr:`Job.problem`), so the other rows still run."""
    manifest = Path(path)
    try:
        text = manifest.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the manifest {manifest}: {exc}") from None
    rows: list[tuple[int, dict[str, Any] | str]] = []
    if manifest.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((number, f"not JSON: {exc}"))
                continue
            rows.append((number, row if isinstance(row, dict) else "not a JSON object"))
    elif manifest.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        unknown = sorted(set(reader.fieldnames or ()) - set(MANIFEST_COLUMNS))
        if unknown:
            raise OptionError(f"{manifest}: unknown column(s) {', '.join(unknown)}; "
                              f"known: {', '.join(MANIFEST_COLUMNS)}")  # fmt: skip
        for number, csv_row in enumerate(reader, start=2):
            rows.append((number, {k: v for k, v in csv_row.items() if v not in (None, "")}))
    else:
        raise OptionError(f"a manifest is a .csv or a .jsonl file, not {manifest.name!r}")
    return [_job(manifest, number, row) for number, row in rows]


def _job(manifest: Path, number: int, row: dict[str, Any] | str) -> Job:
    where = f"{manifest.name}, line {number}"
    if isinstance(row, str):
        return Job(Path(f"{where}"), problem=f"{where}: {row}")
    shown = Path(str(row.get("input") or where))
    try:
        values: dict[str, Any] = {}
        for key, value in row.items():
            if key not in MANIFEST_COLUMNS:
                raise OptionError(f"unknown key {key!r}")
            values[key] = _value(manifest, key, value)
        if "input" not in values:
            raise OptionError("no input")
        rendering = {key: values.pop(key) for key in RENDERING_OPTIONS if key in values}
        return Job(rendering=rendering, **values)
    except (OptionError, ValueError, TypeError) as exc:
        return Job(shown, problem=f"{where}: {exc}")


def _value(manifest: Path, key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _PATHS:
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else manifest.parent / path
    if key in _FLOATS:
        if isinstance(value, bool):
            raise ValueError(f"{key} must be a number, not {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{key} must be a number, not {value!r}") from None
    if key in _INTS:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{key} must be a whole number, not {value!r}") from None
    if key in _FLAGS:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no", ""):
            return False
        raise ValueError(f"{key} must be true or false, not {value!r}")
    return str(value)


@dataclass
class _Book:
    """A job planned: its text split, its clips listed."""

    index: int
    job: Job
    output: Path
    document: Document
    """The book as read: narrate() takes its language, chapters, cover and places."""
    voice: Voice
    rendering: Rendering
    chunked: list[list[str]]
    group: str

    @property
    def chunks(self) -> int:
        return sum(len(chunks) for chunks in self.chunked)


def narrate_many(
    jobs: Iterable[Job | str | Path],
    *,
    outdir: str | Path = ".",
    pattern: str = DEFAULT_PATTERN,
    voice: str | Path | Voice | None = None,
    rendering: Rendering | None = None,
    device: str = "auto",
    cache: ClipCache | bool = True,
    workers: int = 1,
    pool: WorkerPool | None = None,
    force: bool = False,
    progress: BatchProgressFn | None = None,
    max_input: int = MAX_INPUT_BYTES,
    accept_license: bool = False,
) -> BatchReport:
    """Narrate every book of *jobs* (:class:`Job` objects, or input paths) into *outdir*.

    *voice* and *rendering* are the defaults each job may override; the format is the
    output's suffix, else the job's, else ``rendering.format``.  Synthesis runs at sentence
    granularity across all books of a voice with *workers* engine calls (as
    :func:`~narrator.pipeline.narrate`'s *jobs*), or on *pool*'s workers (a Ray cluster,
    :class:`narrator.cluster.RayPool`); each book is mastered as soon as its clips are
    cached, with the result ``narrate()`` gives it.  *cache* False uses a temporary
    cache for the run.  A book whose output :func:`is_complete` is skipped unless *force*.
    A book that fails is in the report with its reason; nothing is raised for it.
    *accept_license* accepts the licence of every voice that asks for one (Coqui's XTTS).
    """
    started = time.perf_counter()
    base = rendering or Rendering()
    temporary = None
    if cache is False:
        temporary = tempfile.TemporaryDirectory(prefix="narrator-batch-")
        clip_cache = ClipCache(Path(temporary.name))
    else:
        clip_cache = ClipCache() if cache is True else cache
    listed = [job if isinstance(job, Job) else Job(Path(job)) for job in jobs]
    results: list[BookResult | None] = [None] * len(listed)
    engines: dict[str, Engine] = {}
    books: list[_Book] = []
    taken: dict[Path, Path] = {}
    try:
        for index, job in enumerate(listed):
            output = _output(job, Path(outdir), pattern, base)
            try:
                if job.problem is not None:
                    raise InputError(job.problem)
                resolved = output.resolve()
                if resolved in taken:
                    raise OptionError(f"{output} is also the output of {taken[resolved]}")
                taken[resolved] = job.input
                if not force and is_complete(output):
                    results[index] = BookResult(job.input, output, "skipped")
                    logger.info("%s: %s exists, skipped (--force remakes it)", job.input, output)
                    continue
                books.append(
                    _plan(
                        index,
                        job,
                        output,
                        voice,
                        base,
                        device,
                        engines,
                        max_input,
                        pool,
                        accept_license,
                    )
                )
            except NarratorError as exc:
                results[index] = _failed(job, output, exc)
        tracker = _Tracker(len(listed), sum(book.chunks for book in books), started, progress)
        for result in results:
            if result is not None:
                tracker.finished(result)
        _synthesize_and_master(books, results, engines, clip_cache, device, workers, pool,
                               tracker)  # fmt: skip
    finally:
        for engine in engines.values():
            engine.close()
        if temporary is not None:
            temporary.cleanup()
    done = [result for result in results if result is not None]
    return BatchReport(done, time.perf_counter() - started)


def _output(job: Job, outdir: Path, pattern: str, base: Rendering) -> Path:
    if job.output is not None:
        return job.output
    fmt = job.format or base.format.value
    try:
        name = pattern.format(stem=job.input.stem, name=job.input.name, format=fmt)
    except (KeyError, IndexError, ValueError) as exc:
        raise OptionError(f"bad output name pattern {pattern!r}: {exc!r}; use {{stem}}, "
                          "{name} and {format}") from None  # fmt: skip
    return outdir / name


def _failed(job: Job, output: Path | None, exc: NarratorError) -> BookResult:
    return BookResult(job.input, output, "failed", str(exc), exc.exit_code)


def _plan(
    index: int, job: Job, output: Path, voice: str | Path | Voice | None, base: Rendering,
    device: str, engines: dict[str, Engine], max_input: int, pool: WorkerPool | None,
    accept_license: bool = False,
) -> _Book:  # fmt: skip
    """Read and split *job*'s book as :func:`~narrator.pipeline.narrate` will, loading its
    voice's engine once for all books of that voice."""
    document = load(job.input, job.input_format, max_bytes=max_input, extract=job.extract,
                    skip_notes=job.skip_notes, chapters=job.chapters or None)  # fmt: skip
    text = document.text
    wanted = job.voice if job.voice is not None else voice
    chosen = auto_voice(text, document.language) if wanted == AUTO_VOICE else load_voice(wanted)
    chosen = chosen.with_options(speaker=job.speaker, speed=job.speed, seed=job.seed,
                                 accept_license=accept_license)  # fmt: skip
    tags = dict(base.tags)
    for key, value in (("title", job.title or document.title),
                       ("author", job.author or ", ".join(document.authors))):  # fmt: skip
        if value:
            tags[key] = value
    fmt = AudioFormat.from_suffix(output.suffix)
    if fmt is None:
        fmt = AudioFormat.parse(job.format) if job.format else base.format
    settings = {**job.rendering}
    if "bitrate" in settings:
        from .rendering import parse_bitrate

        settings["bitrate"] = parse_bitrate(settings["bitrate"])
    known = {f.name for f in fields(Rendering)}
    rendering = replace(base, format=fmt, tags=tags,
                        **{k: v for k, v in settings.items() if k in known})  # fmt: skip
    if job.cover is not None:
        rendering = replace(rendering, cover=read_cover(job.cover))
    group = json.dumps([chosen.engine, chosen.sound_identity(), device], sort_keys=True,
                       default=str)  # fmt: skip
    engine = engines.get(group)
    if engine is None:
        remote = getattr(pool, "engine", None)  # a pool's actors load it; not this process
        loaded = (
            remote(chosen, device) if remote is not None else load_engine(chosen, device=device)
        )
        engine = engines[group] = loaded
    segments = split_text(text, language=text_language(chosen.language, document.language),
                          rendering=rendering,
                          lexicon=[job.lexicon, chosen.lexicon_path()],
                          limit=engine.max_chars)  # fmt: skip
    chunked = [fit(segment.chunks, engine.max_chars) for segment in segments]
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"cannot make the folder of {output}: {exc.strerror or exc}") from None
    return _Book(index, job, output, document, chosen, rendering, chunked, group)


class _Tracker:
    """Counts what is done and tells *progress*."""

    def __init__(
        self, books: int, sentences: int, started: float, progress: BatchProgressFn | None
    ) -> None:
        self.books, self.books_done = books, 0
        self.sentences, self.sentences_done = sentences, 0
        self.audio_seconds = 0.0
        self.started = started
        self.progress = progress
        self.lock = threading.Lock()

    def clip(self, seconds: float) -> None:
        with self.lock:
            self.sentences_done += 1
            self.audio_seconds += seconds
            self._tell(None)

    def finished(self, result: BookResult, counted: int = 0) -> None:
        """A book is over; *counted* of its sentences were counted already."""
        with self.lock:
            self.books_done += 1
            self.sentences_done += result.sentences - counted
            self._tell(result)

    def _tell(self, book: BookResult | None) -> None:
        if self.progress is None:
            return
        self.progress(BatchProgress(
            self.books_done, self.books, self.sentences_done, self.sentences,
            self.audio_seconds, time.perf_counter() - self.started, book,
        ))  # fmt: skip


def _synthesize_and_master(
    books: list[_Book], results: list[BookResult | None], engines: dict[str, Engine],
    cache: ClipCache, device: str, workers: int, pool: WorkerPool | None, tracker: _Tracker,
) -> None:  # fmt: skip
    """Synthesize every book's clips into *cache*, a voice at a time, and master each book
    on a thread as soon as its clips are all there."""
    groups: dict[str, list[_Book]] = {}
    for book in books:
        groups.setdefault(book.group, []).append(book)
    with ThreadPoolExecutor(1, thread_name_prefix="narrator-master") as mastering:
        pending: list[Future[BookResult]] = []
        for group, members in groups.items():
            engine = engines[group]
            try:
                synthesizer = Synthesizer(members[0].voice, device=device, engine=engine,
                                          cache=cache, jobs=workers, pool=pool)  # fmt: skip
            except NarratorError as exc:
                for book in members:
                    _record(results, tracker, book, _failed(book.job, book.output, exc))
                continue
            clips = synthesizer.clips(_all_chunks(members))
            rate = synthesizer.sample_rate
            failure: NarratorError | None = None
            try:
                for book in members:
                    if failure is None:
                        try:
                            made = _take(clips, book, synthesizer, rate, tracker)
                        except NarratorError as exc:
                            failure = exc
                    if failure is not None:
                        result = _failed(book.job, book.output, failure)
                        result.sentences = 0
                        _record(results, tracker, book, result)
                        continue
                    pending.append(mastering.submit(_master, book, engine, cache, device, made))
                    pending[-1].add_done_callback(partial(_mastered, results, tracker, book))
            finally:
                with contextlib.suppress(Exception):
                    getattr(clips, "close", lambda: None)()  # ends the workers
        for future in pending:
            future.result()


def _all_chunks(members: Sequence[_Book]) -> Iterator[list[str]]:
    for book in members:
        yield from book.chunked


def _take(
    clips: Iterator[np.ndarray], book: _Book, synthesizer: Synthesizer, rate: int,
    tracker: _Tracker,
) -> int:  # fmt: skip
    """Take *book*'s clips from *clips* (each is in the cache by then); the number made."""
    before = synthesizer.stats.synthesized
    for _ in range(book.chunks):
        clip = next(clips)
        tracker.clip(len(clip) / rate)
    return synthesizer.stats.synthesized - before


def _master(book: _Book, engine: Engine, cache: ClipCache, device: str, made: int) -> BookResult:
    """Stitch and master *book* by :func:`~narrator.pipeline.narrate`, from the cache."""
    from .pipeline import narrate

    job = book.job
    try:
        narration = narrate(
            book.document, book.output, voice=book.voice, rendering=book.rendering, device=device,
            engine=engine, fallback_title=title_from_name(job.input), cache=cache,
            subtitles=job.subtitles, split_chapters=job.split_chapters, lexicon=job.lexicon,
            inputs=[job.input],
        )  # fmt: skip
    except NarratorError as exc:
        result = _failed(job, book.output, exc)
    else:
        result = BookResult(job.input, book.output, "made", summary=narration.summary())
        made += narration.stats.synthesized
    result.sentences = book.chunks
    result.synthesized = made
    return result


def _mastered(
    results: list[BookResult | None], tracker: _Tracker, book: _Book, done: Future[BookResult]
) -> None:
    _record(results, tracker, book, done.result(), counted=book.chunks)


def _record(
    results: list[BookResult | None], tracker: _Tracker, book: _Book, result: BookResult,
    counted: int = 0,
) -> None:  # fmt: skip
    results[book.index] = result
    tracker.finished(result, counted)
