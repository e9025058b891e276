"""The pipeline: text -> segments -> clips -> stitched programme -> mastered file."""

from __future__ import annotations

import bisect
import io
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .books import Document
from .cache import ClipCache
from .destinations import NAME_MAX, SCRATCH_SUFFIX, Destinations, remove_stale, scratch_prefix
from .encode import copy_to_stream, decode_blocks, read_blocks
from .engines import DEVICES, Engine, engine_class, load_engine_in_background
from .errors import InputError, OptionError, OutputError
from .language import AUTO_VOICE, auto_voice, language_mismatch, text_language
from .mastering import Mastered
from .mastering.pieces import PieceMaster, piece_format
from .mastering.store import PieceStore
from .mastering.whole import export_range, master
from .rendering import AudioFormat, Rendering, cover_type
from .stitch import Programme, Span, Stitcher
from .synthesis import SynthesisStats, Synthesizer
from .text import Kind, Lexicon, Segment, split_text
from .text.chunks import fit
from .timeline import (
    OPENING_TITLE,
    Chapter,
    Cue,
    chapters,
    cues,
    render_subtitles,
    subtitle_format,
)
from .voices import Voice, load_voice

if TYPE_CHECKING:
    import pydub

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
        """The subtitle cues: each spoken segment's text in cues of at most two lines of
        42 characters and about 7 seconds (see :func:`narrator.timeline.sentence_cues`)."""
        return cues(self.segments, self.spans, self.sample_rate)

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of work per second of audio."""
        return self.elapsed / self.duration if self.duration else 0.0

    def to_audiosegment(self) -> pydub.AudioSegment:
        """The narration as a 16-bit mono :class:`pydub.AudioSegment` at :attr:`sample_rate`,
        for editing with pydub: from :attr:`audio` when the narration holds its samples,
        else decoded from :attr:`output`."""
        with warnings.catch_warnings():  # about ffmpeg on PATH and audioop: neither is used here
            warnings.simplefilter("ignore")
            import pydub

        if self.audio is not None:
            samples = self.audio
        elif self.output is not None:
            fmt = AudioFormat.from_suffix(self.output.suffix)
            if fmt is not None and not fmt.lossy:
                blocks = read_blocks(self.output)
            else:  # ffmpeg tells the format from the content, whatever the name says
                blocks = decode_blocks(self.output, fmt or AudioFormat.MP3, self.sample_rate)
            samples = np.concatenate([np.zeros(0), *blocks])
        else:
            raise OutputError(
                "the narration went to a stream, so there is no audio to hand to pydub; "
                "narrate to a file or to output=None"
            )
        pcm = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2")
        return pydub.AudioSegment(
            pcm.tobytes(), sample_width=2, frame_rate=self.sample_rate, channels=1
        )

    def summary(self) -> dict[str, object]:
        """The facts a script wants, as plain JSON-able values: a measure that is not a
        finite number (the loudness of silence is -inf LUFS) is None."""

        def finite(value: float, digits: int) -> float | None:
            return round(value, digits) if math.isfinite(value) else None

        return {
            "output": str(self.output) if self.output else None,
            "duration": finite(self.duration, 3),
            "sample_rate": self.sample_rate,
            "sentences": len(self.segments),
            "synthesized": self.stats.synthesized,
            "cache_hits": self.stats.cache_hits,
            "chapters": len(self.chapters),
            "pieces": self.mastered.pieces,
            "pieces_reused": self.mastered.reused,
            "loudness": finite(self.mastered.loudness, 2),
            "true_peak": finite(self.mastered.true_peak, 2),
            "elapsed": round(self.elapsed, 3),
            "rtf": finite(self.rtf, 4),
            "voice": self.voice.name,
        }


def narrate(
    text: str | Document,
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
    inputs: Sequence[str | Path] = (),
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

    *text* may be a :class:`~narrator.books.Document` (from :func:`narrator.books.load`:
    an EPUB, say): its title and authors become the title and author tags unless
    *rendering* has them, its cover is embedded unless ``rendering.cover`` is set, its
    language chooses the sentence splitter and number reading (with a warning when the
    voice speaks another), its chapters (the table of contents) become the audio's
    chapters, and what is not spoken is reported with its place in the source.

    Every destination (*output*, *subtitles*, the chapter files) is checked before
    synthesis, and all are moved into place together at the end (see
    :mod:`narrator.destinations`); none may be one of *inputs* (the files the text
    came from), the lexicon, the voice's files, or another destination.
    """
    started = time.perf_counter()
    document = text if isinstance(text, Document) else None
    if document is not None:
        text = document.text
    _check_arguments(text, output, voice, rendering, device, engine, progress, fallback_title,
                     cache, jobs, subtitles, split_chapters, lexicon)  # fmt: skip
    assert isinstance(text, str)
    book_language = document.language if document is not None else None
    voice = auto_voice(text, book_language) if voice == AUTO_VOICE else load_voice(voice)
    mismatch = language_mismatch(text, voice, language=book_language)
    if mismatch is not None:
        logger.warning("%s", mismatch)
    language = text_language(voice.language, book_language)
    rendering = rendering or Rendering()
    if document is not None:
        rendering = _with_book(rendering, document)
    if isinstance(output, (str, Path)):
        fmt = AudioFormat.from_suffix(Path(output).suffix)
        if fmt is not None and fmt is not rendering.format:
            rendering = replace(rendering, format=fmt)
    elif output is None:
        rendering = replace(rendering, format=AudioFormat.WAV)
    destination = Path(output) if isinstance(output, (str, Path)) else None
    stream = None if isinstance(output, (str, Path)) else output
    outputs = Destinations()
    try:
        if split_chapters and destination is None:
            raise OptionError("--split-chapters needs an output file, not a stream")
        subtitle_path = Path(subtitles) if subtitles is not None else None
        if subtitle_path is not None:
            subtitle_format(subtitle_path)
        # Every destination is checked before any audio is made.
        _protect_inputs(outputs, inputs, voice, lexicon)
        scratch = outputs.add(destination) if destination is not None else None
        if split_chapters and scratch is not None and outputs.is_stream(scratch):
            raise OptionError("--split-chapters needs an output file, not a device or a FIFO")
        subtitle_scratch = outputs.add(subtitle_path, "subtitles") if subtitle_path else None
    except BaseException:
        outputs.discard()
        if isinstance(engine, Future):
            engine.add_done_callback(_close_engine)
        raise
    if isinstance(engine, Engine):
        limit = engine.max_chars
    else:  # the model loads while the text is split
        engine = engine or load_engine_in_background(voice, device=device)
        limit = engine_class(voice.engine).text_limit(voice)
    try:
        segments = split_text(text, language=language, rendering=rendering,
                              lexicon=[lexicon, voice.lexicon_path()], limit=limit,
                              where=document.place if document is not None else None)  # fmt: skip
        rendering = _with_default_tags(rendering, voice, segments, fallback_title)
        starts = chapter_starts(document, segments) if document is not None else None
        planned = None
        if split_chapters and destination is not None:
            planned = _plan_chapters(outputs, destination, segments, starts)
        clip_cache = ClipCache() if cache is True else (cache or None)
        synthesizer = Synthesizer(voice, device=device, engine=engine, cache=clip_cache,
                                  jobs=jobs)  # fmt: skip
    except BaseException:
        outputs.discard()
        if isinstance(engine, Future):
            engine.add_done_callback(_close_engine)
        raise
    store = PieceStore(clip_cache.pieces if clip_cache is not None else None)
    with outputs:
        try:
            with outputs.writing():
                if scratch is not None:
                    result = _produce(segments, scratch, voice, rendering, synthesizer,
                                      progress, store, planned, outputs, starts)  # fmt: skip
                    result.output = destination
                else:
                    result = _to_memory_or_stream(segments, stream, voice, rendering,
                                                  synthesizer, progress, store, starts)  # fmt: skip
                if subtitle_path is not None and subtitle_scratch is not None:
                    outputs.ready()
                    subtitle_scratch.write_text(render_subtitles(result.cues, subtitle_path),
                                                "utf-8")  # fmt: skip
        finally:
            synthesizer.close()
            store.close()
        outputs.commit()
    result.elapsed = time.perf_counter() - started
    return result


def _check_arguments(
    text: object, output: object, voice: object, rendering: object, device: object,
    engine: object,
    progress: object, fallback_title: object, cache: object, jobs: object, subtitles: object,
    split_chapters: object, lexicon: object,
) -> None:  # fmt: skip
    """Raise :class:`InputError` or :class:`OptionError` with a message for the caller
    unless :func:`narrate`'s arguments have the types it documents."""

    def wrong(name: str, wanted: str, value: object) -> OptionError:
        return OptionError(f"narrate(): {name} must be {wanted}, not {_shown(value)}")

    if not isinstance(text, str):
        hint = "; decode it first (text.decode('utf-8'))" if isinstance(text, bytes) else ""
        raise InputError(f"narrate(): the text must be a str, not {_shown(text)}{hint}")
    if isinstance(output, io.TextIOBase):
        raise wrong("output", "a binary stream (sys.stdout.buffer, not sys.stdout)", output)
    if output is not None and not isinstance(output, (str, Path)):
        if not callable(getattr(output, "write", None)):
            raise wrong("output", "a path, a binary stream or None", output)
        if getattr(output, "closed", False):
            raise OptionError("narrate(): the output stream is closed")
    if voice is not None and not isinstance(voice, (str, Path, Voice)):
        raise wrong("voice", "a preset name, a preset file or a narrator.Voice", voice)
    if rendering is not None and not isinstance(rendering, Rendering):
        raise wrong("rendering", "a narrator.Rendering", rendering)
    if device not in DEVICES:
        raise wrong("device", f"one of {', '.join(repr(d) for d in DEVICES)}", device)
    if engine is not None and not isinstance(engine, (Engine, Future)):
        raise wrong("engine", "a loaded Engine, a Future of one, or None", engine)
    if progress is not None and not callable(progress):
        raise wrong("progress", "a function that takes a ProgressEvent, or None", progress)
    if fallback_title is not None and not isinstance(fallback_title, str):
        raise wrong("fallback_title", "a str or None", fallback_title)
    if not isinstance(cache, (bool, ClipCache)):
        raise wrong("cache", "True, False or a ClipCache", cache)
    if not isinstance(jobs, int) or isinstance(jobs, bool):
        raise wrong("jobs", "a whole number", jobs)
    if subtitles is not None and not isinstance(subtitles, (str, Path)):
        raise wrong("subtitles", "a path or None", subtitles)
    if not isinstance(split_chapters, bool):
        raise wrong("split_chapters", "True or False", split_chapters)
    if lexicon is not None and not isinstance(lexicon, (str, Path, Lexicon)):
        raise wrong("lexicon", "a path to a lexicon file, a Lexicon or None", lexicon)


def _shown(value: object) -> str:
    """*value* for a message: its type, and what it is when that is short."""
    shown = repr(value)
    if value is None or isinstance(value, bool):
        return shown
    if len(shown) > 40 or " object at 0x" in shown:
        return type(value).__name__
    return f"{type(value).__name__} {shown}"


def _to_memory_or_stream(
    segments: list[Segment],
    output: BinaryIO | None,
    voice: Voice,
    rendering: Rendering,
    synthesizer: Synthesizer,
    progress: Progress | None,
    store: PieceStore,
    starts: list[tuple[str, int]] | None = None,
) -> Narration:
    """Narrate into a private temporary folder, then into memory or onto *output*."""
    remove_stale(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=scratch_prefix(), suffix=SCRATCH_SUFFIX) as folder:
        temporary = Path(folder) / f"narration.{rendering.format.value}"
        result = _produce(segments, temporary, voice, rendering, synthesizer, progress, store,
                          starts=starts)  # fmt: skip
        if output is None:
            result.audio = np.concatenate(list(read_blocks(temporary))).astype(np.float32)
        else:
            copy_to_stream(temporary, output)
    return result


def _protect_inputs(
    outputs: Destinations,
    inputs: Sequence[str | Path],
    voice: Voice,
    lexicon: str | Path | Lexicon | None,
) -> None:
    """No destination may replace a file the narration reads."""
    for given in inputs:
        outputs.protect(given)
    if isinstance(lexicon, (str, Path)):
        outputs.protect(lexicon, "lexicon")
    for path, what in ((voice.lexicon_path(), "lexicon"), (voice.path, "voice preset")):
        if path is not None:
            outputs.protect(path, what)
    for wav in voice.reference_audio():
        outputs.protect(wav, "speaker recording")


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
    planned: _ChapterPlan | None = None,
    outputs: Destinations | None = None,
    starts: list[tuple[str, int]] | None = None,
) -> Narration:
    rate = synthesizer.sample_rate
    programme = Programme(rate)
    form = piece_format(rendering, rate)
    pieces = PieceMaster(programme, rendering, form, store) if form else None
    try:
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
        found = chapters(segments, stitcher.spans, rate, programme.duration, starts=starts)
        if outputs is not None:
            outputs.ready()  # the scratch folders appear only now that audio is written
        if pieces is not None:
            mastered = pieces.finish(destination, found)
        else:
            mastered = master(programme, destination, rendering, found)
        files = _export_chapters(programme, planned, outputs, rendering, mastered, found)
        return Narration(
            output=None, sample_rate=rate, duration=programme.duration, segments=segments,
            spans=stitcher.spans, voice=voice, mastered=mastered, stats=synthesizer.stats,
            chapters=found, chapter_files=files,
        )  # fmt: skip
    finally:
        if pieces is not None:
            pieces.close()
        programme.close()


@dataclass
class _ChapterPlan:
    """The chapter files of ``--split-chapters``, named (and checked) before synthesis."""

    base: Path
    """The narration's output; chapter files go beside it."""

    scratch: dict[Path, Path]
    """Each chapter file, and where it is written first."""


def _chapter_paths(base: Path, titles: list[str]) -> list[Path]:
    """``story-01-Title.mp3`` and so on, the story's name shortened where the whole
    would not fit a file name."""
    width = max(2, len(str(len(titles))))
    paths = []
    for number, title in enumerate(titles, start=1):
        tail = f"-{number:0{width}d}-{_slug(title)}{base.suffix}"
        room = max(1, NAME_MAX - len(os.fsencode(tail)))
        stem = os.fsencode(base.stem)[:room].decode("utf-8", "ignore") or "chapter"
        paths.append(base.with_name(stem + tail))
    return paths


def _plan_chapters(
    outputs: Destinations,
    base: Path,
    segments: list[Segment],
    starts: list[tuple[str, int]] | None = None,
) -> _ChapterPlan:
    """The chapter files the headings of *segments* (or the book's chapters, *starts*)
    will make (see :func:`~narrator.timeline.chapters`), added to *outputs*."""
    if starts is None:
        starts = [(s.source.strip(), s.index) for s in segments if s.kind is Kind.HEADING]
    titles = [title for title, _ in starts]
    if starts and starts[0][1] > 0:
        titles.insert(0, OPENING_TITLE)
    paths = _chapter_paths(base, titles)
    return _ChapterPlan(base, {path: outputs.add(path, "chapter file") for path in paths})


def _export_chapters(
    programme: Programme,
    plan: _ChapterPlan | None,
    outputs: Destinations | None,
    rendering: Rendering,
    mastered: Mastered,
    found: list[Chapter],
) -> list[Path]:
    """One file per chapter beside the output: ``story-01-Title.mp3`` and so on."""
    if plan is None or outputs is None:
        return []
    if not found:
        logger.warning("--split-chapters: the text has no headings, so no chapter files")
    rate = programme.sample_rate
    paths = _chapter_paths(plan.base, [chapter.title for chapter in found])
    for path in set(plan.scratch) - set(paths):
        outputs.drop(plan.scratch.pop(path))
    for number, (path, chapter) in enumerate(zip(paths, found, strict=True), start=1):
        if path not in plan.scratch:  # (planned otherwise only if the text fooled the plan)
            plan.scratch[path] = outputs.add(path, "chapter file")
        tags = {**rendering.tags, "title": chapter.title, "tracknumber": f"{number}/{len(found)}"}
        export_range(programme, plan.scratch[path], replace(rendering, tags=tags), mastered,
                     round(chapter.start * rate), round(chapter.end * rate))  # fmt: skip
    return paths


def _slug(title: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in title).split()
    return "-".join(words)[:40] or "chapter"


def _with_default_tags(
    rendering: Rendering, voice: Voice, segments: list[Segment], fallback_title: str | None
) -> Rendering:
    tags = dict(rendering.tags)
    tags.setdefault("narrator", voice.name)
    tags.setdefault("artist", tags.get("author") or voice.name)
    # The voice's licence and the credit line it asks for travel with the audio.
    if voice.license:
        tags.setdefault("voice_license", voice.license)
    if voice.credit:
        tags.setdefault("voice_credit", voice.credit)
    if voice.license or voice.credit:
        licence = f" ({voice.license})" if voice.license else ""
        credit = f". {voice.credit}" if voice.credit else ""
        tags.setdefault("comment", f"Voice: {voice.name}{licence}{credit}")
    if "title" not in tags:
        if segments and segments[0].kind is Kind.HEADING:
            tags["title"] = segments[0].source
        elif fallback_title:
            tags["title"] = fallback_title
    if "title" in tags:
        tags.setdefault("album", tags["title"])
    return replace(rendering, tags=tags)


def chapter_starts(document: Document, segments: list[Segment]) -> list[tuple[str, int]] | None:
    """Each of the book's chapters (its table of contents) as (title, index of its first
    segment); None for a document without chapters of its own (its headings are)."""
    if not document.chapters:
        return None
    starts: list[tuple[str, int]] = []
    lines = [segment.line for segment in segments]
    ordered = sorted(document.chapters, key=lambda c: c.line)
    for number, chapter in enumerate(ordered):
        end = ordered[number + 1].line if number + 1 < len(ordered) else None
        first = bisect.bisect_left(lines, chapter.line)
        if first < len(segments) and (end is None or lines[first] < end):
            starts.append((chapter.title, first))
    return starts


def _with_book(rendering: Rendering, document: Document) -> Rendering:
    """*rendering* with the book's title, authors and cover where it has none of its own."""
    tags = dict(rendering.tags)
    if document.title and "title" not in tags:
        tags["title"] = document.title
    if document.authors and "author" not in tags:
        tags["author"] = ", ".join(document.authors)
    cover = rendering.cover
    if cover is None and document.cover is not None:
        if cover_type(document.cover) is None:
            logger.warning(
                "the book's cover is %s, which narrator cannot embed (JPEG or PNG only); "
                "give one with --cover", document.cover_type or "unknown",
            )  # fmt: skip
        else:
            cover = document.cover
    return replace(rendering, tags=tags, cover=cover)
