"""The pipeline: text -> segments -> clips -> stitched programme -> mastered file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .cache import ClipCache
from .encode import atomic_output, copy_to_stream, read_blocks
from .engines import Engine, engine_class, load_engine_in_background
from .errors import OptionError
from .master import Mastered, Programme, export_range, master
from .pieces import PieceMaster, PieceStore, piece_format
from .rendering import AudioFormat, Rendering
from .stitch import Span, Stitcher
from .synthesis import SynthesisStats, Synthesizer
from .text import Kind, Lexicon, Segment, split_text
from .text.chunks import fit
from .timeline import Chapter, Cue, chapters, cues, render_subtitles, subtitle_format
from .voices import Voice, load_voice

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEvent:
    """Where a narration stands, after each segment."""

    done: int
    """Segments finished."""

    total: int
    """Segments in all."""

    segment: Segment
    """The segment just finished."""

    audio_seconds: float
    """Seconds of audio produced so far."""


Progress = Callable[[ProgressEvent], None]


@dataclass
class Narration:
    """What :func:`narrate` made."""

    output: Path | None
    """The file written, or None when the audio went to a stream or is in :attr:`audio`."""

    sample_rate: int
    duration: float
    """Seconds of audio."""

    segments: list[Segment]
    spans: list[Span]
    """Where each segment's speech lies in the audio, in samples."""

    voice: Voice
    mastered: Mastered
    stats: SynthesisStats
    """Clips synthesized and taken from the cache, and the time spent in the engine."""

    chapters: list[Chapter] = field(default_factory=list)
    chapter_files: list[Path] = field(default_factory=list)
    elapsed: float = 0.0
    """Wall time of the whole narration, loading included."""

    audio: np.ndarray | None = field(default=None, repr=False)
    """The mastered audio as float samples, when no output was given."""

    @property
    def synthesis_seconds(self) -> float:
        return self.stats.engine_seconds

    @property
    def cues(self) -> list[Cue]:
        """One subtitle cue per spoken segment."""
        return cues(self.segments, self.spans, self.sample_rate)

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of work per second of audio."""
        return self.elapsed / self.duration if self.duration else 0.0

    def summary(self) -> dict[str, object]:
        """The facts a script wants, as plain JSON-able values."""
        return {
            "output": str(self.output) if self.output else None,
            "duration": round(self.duration, 3),
            "sample_rate": self.sample_rate,
            "sentences": len(self.segments),
            "synthesized": self.stats.synthesized,
            "cache_hits": self.stats.cache_hits,
            "chapters": len(self.chapters),
            "pieces": self.mastered.pieces,
            "pieces_reused": self.mastered.reused,
            "loudness": round(self.mastered.loudness, 2),
            "true_peak": round(self.mastered.true_peak, 2),
            "elapsed": round(self.elapsed, 3),
            "rtf": round(self.rtf, 4),
            "voice": self.voice.name,
        }


def narrate(
    text: str,
    output: str | Path | BinaryIO | None = None,
    *,
    voice: str | Path | Voice | None = None,
    rendering: Rendering | None = None,
    device: str = "auto",
    engine: Engine | Future[Engine] | None = None,
    progress: Progress | None = None,
    fallback_title: str | None = None,
    cache: ClipCache | bool = True,
    jobs: int = 1,
    subtitles: str | Path | None = None,
    split_chapters: bool = False,
    lexicon: str | Path | Lexicon | None = None,
) -> Narration:
    """Narrate *text* into one audio file.

    *output* is a path, a binary stream (standard output in a pipeline) or None,
    in which case the audio is returned in :attr:`Narration.audio`.  *voice* is
    a preset name, a preset file or a :class:`Voice`; *rendering* holds pauses,
    loudness, format and tags.  An already loaded *engine* may be passed to
    narrate many texts with one model (the caller closes it), or one still loading
    (a future from :func:`~narrator.engines.load_engine_in_background`, closed
    here); otherwise the voice's model loads on a thread while the text is split.
    The title tag is ``rendering.tags["title"]``, else the text's first heading,
    else *fallback_title*.

    Clips are cached on disk (*cache*: True for the default cache, a
    :class:`~narrator.cache.ClipCache`, or False), so an interrupted or edited
    narration only synthesizes what is missing.  *jobs* > 1 synthesizes in that
    many worker processes.  *subtitles* writes an ``.srt`` or ``.vtt`` file;
    *split_chapters* also writes one file per chapter beside *output*.
    *lexicon* (a TOML file or a :class:`~narrator.text.Lexicon`) respells words
    before normalization; its entries win over the voice preset's own lexicon.
    """
    started = time.perf_counter()
    voice = load_voice(voice)
    rendering = rendering or Rendering()
    if isinstance(output, (str, Path)):
        fmt = AudioFormat.from_suffix(Path(output).suffix)
        if fmt is not None and fmt is not rendering.format:
            rendering = replace(rendering, format=fmt)
    elif output is None:
        rendering = replace(rendering, format=AudioFormat.WAV)
    if split_chapters and not isinstance(output, (str, Path)):
        raise OptionError("--split-chapters needs an output file, not a stream")
    subtitle_path = Path(subtitles) if subtitles is not None else None
    if subtitle_path is not None:
        subtitle_format(subtitle_path)
    if isinstance(engine, Engine):
        limit = engine.max_chars
    else:  # the model loads while the text is split
        engine = engine or load_engine_in_background(voice, device=device)
        limit = engine_class(voice.engine).text_limit(voice)
    try:
        segments = split_text(text, language=voice.language, rendering=rendering,
                              lexicon=[lexicon, voice.lexicon_path()], limit=limit)  # fmt: skip
        rendering = _with_default_tags(rendering, voice, segments, fallback_title)
        clip_cache = ClipCache() if cache is True else (cache or None)
        synthesizer = Synthesizer(voice, device=device, engine=engine, cache=clip_cache,
                                  jobs=jobs)  # fmt: skip
    except BaseException:
        if isinstance(engine, Future):
            engine.add_done_callback(_close_engine)
        raise
    store = PieceStore(clip_cache.pieces if clip_cache is not None else None)
    try:
        if isinstance(output, (str, Path)):
            destination = Path(output)
            with atomic_output(destination) as temporary:
                base = destination if split_chapters else None
                result = _produce(segments, temporary, voice, rendering, synthesizer, progress,
                                  store, base)  # fmt: skip
            result.output = destination
        else:
            with tempfile.TemporaryDirectory(prefix="narrator-") as folder:
                temporary = Path(folder) / f"narration.{rendering.format.value}"
                result = _produce(segments, temporary, voice, rendering, synthesizer, progress,
                                  store)  # fmt: skip
                if output is None:
                    result.audio = np.concatenate(list(read_blocks(temporary))).astype(np.float32)
                else:
                    copy_to_stream(temporary, output)
    finally:
        synthesizer.close()
        store.close()
    if subtitle_path is not None:
        with atomic_output(subtitle_path) as temporary:
            temporary.write_text(render_subtitles(result.cues, subtitle_path), "utf-8")
    result.elapsed = time.perf_counter() - started
    return result


GIL_SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits for it, during a narration
(Python's default is 0.005): the sample story took 0.1-0.2 s less (7 of 10 pairs)."""

_handovers = [0, 0.0]  # narrations running, and the switch interval before the first
_handovers_lock = threading.Lock()


@contextlib.contextmanager
def _quick_gil_handover() -> Iterator[None]:
    """While narrations run, threads hand the GIL over within :data:`GIL_SWITCH_INTERVAL`:
    engine threads take it back after every model call, and whoever holds it then (the
    mastering, the stitching) would keep them waiting up to the switch interval."""
    with _handovers_lock:
        if _handovers[0] == 0:
            _handovers[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(_handovers[1], GIL_SWITCH_INTERVAL))
        _handovers[0] += 1
    try:
        yield
    finally:
        with _handovers_lock:
            _handovers[0] -= 1
            if _handovers[0] == 0:
                sys.setswitchinterval(_handovers[1])


def _close_engine(loading: Future[Engine]) -> None:
    """Close an engine that was loaded for nothing."""
    if not loading.cancelled() and loading.exception() is None:
        loading.result().close()


def _produce(
    segments: list[Segment],
    destination: Path,
    voice: Voice,
    rendering: Rendering,
    synthesizer: Synthesizer,
    progress: Progress | None,
    store: PieceStore,
    chapter_base: Path | None = None,
) -> Narration:
    rate = synthesizer.sample_rate
    programme = Programme(rate)
    form = piece_format(rendering, rate)
    spare = (os.cpu_count() or 1) - synthesizer.calls * synthesizer.threads
    pieces = PieceMaster(programme, rendering, form, store, spare) if form else None
    try:
        with _quick_gil_handover():
            stitcher = Stitcher(rate, rendering, form.cut if form is not None else None)
            programme.append(stitcher.lead_in())
            chunked = [fit(segment.chunks, synthesizer.max_chars) for segment in segments]
            clips = synthesizer.clips(chunked)  # one per chunk, handed on one at a time
            pairs = zip(segments, chunked, strict=True)
            for done, (segment, chunks) in enumerate(pairs, start=1):
                sounded = False
                for _ in chunks:
                    clip = next(clips)
                    sounded = sounded or len(clip) > 0
                    programme.append(stitcher.speak(clip))
                if not sounded and segment.text.strip():
                    logger.warning("segment %d produced no audio: %r", segment.index, segment.text)
                programme.append(stitcher.end(segment.pause))
                if pieces is not None:
                    if stitcher.cut is not None:
                        pieces.cut(stitcher.cut, segment.text)
                    pieces.advance()
                if progress is not None:
                    progress(ProgressEvent(done, len(segments), segment, programme.duration))
            programme.append(stitcher.tail())
            programme.finish()
            found = chapters(segments, stitcher.spans, rate, programme.duration)
            if pieces is not None:
                mastered = pieces.finish(destination, found)
            else:
                mastered = master(programme, destination, rendering, found)
            files = _export_chapters(programme, chapter_base, rendering, mastered, found)
            return Narration(
                output=None, sample_rate=rate, duration=programme.duration, segments=segments,
                spans=stitcher.spans, voice=voice, mastered=mastered, stats=synthesizer.stats,
                chapters=found, chapter_files=files,
            )  # fmt: skip
    finally:
        if pieces is not None:
            pieces.close()
        programme.close()


def _export_chapters(
    programme: Programme,
    base: Path | None,
    rendering: Rendering,
    mastered: Mastered,
    found: list[Chapter],
) -> list[Path]:
    """One file per chapter beside *base*: ``story-01-Title.mp3`` and so on."""
    if base is None:
        return []
    if not found:
        logger.warning("--split-chapters: the text has no headings, so no chapter files")
        return []
    rate = programme.sample_rate
    files = []
    width = max(2, len(str(len(found))))
    for number, chapter in enumerate(found, start=1):
        name = f"{base.stem}-{number:0{width}d}-{_slug(chapter.title)}{base.suffix}"
        path = base.with_name(name)
        tags = {**rendering.tags, "title": chapter.title, "tracknumber": f"{number}/{len(found)}"}
        with atomic_output(path) as temporary:
            export_range(programme, temporary, replace(rendering, tags=tags), mastered,
                         round(chapter.start * rate), round(chapter.end * rate))  # fmt: skip
        files.append(path)
    return files


def _slug(title: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in title).split()
    return "-".join(words)[:40] or "chapter"


def _with_default_tags(
    rendering: Rendering, voice: Voice, segments: list[Segment], fallback_title: str | None
) -> Rendering:
    tags = dict(rendering.tags)
    tags.setdefault("narrator", voice.name)
    tags.setdefault("artist", tags.get("author") or voice.name)
    if "title" not in tags:
        if segments and segments[0].kind is Kind.HEADING:
            tags["title"] = segments[0].source
        elif fallback_title:
            tags["title"] = fallback_title
    if "title" in tags:
        tags.setdefault("album", tags["title"])
    return replace(rendering, tags=tags)
