"""The pipeline: text -> segments -> clips -> stitched programme -> mastered file."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .encode import atomic_output, copy_to_stream, read_blocks
from .engines import Engine, load_engine
from .master import Mastered, Programme, master
from .rendering import AudioFormat, Rendering
from .stitch import Span, Stitcher
from .text import Kind, Segment, split_text
from .text.chunks import chunk
from .voices import Voice, load_voice

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, Segment], None]
"""Called after each segment with (segments done, segments in all, the segment)."""


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
    synthesis_seconds: float
    """Time spent inside the engine."""

    elapsed: float
    """Wall time of the whole narration, loading included."""

    audio: np.ndarray | None = field(default=None, repr=False)
    """The mastered audio as float samples, when no output was given."""

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of work per second of audio."""
        return self.elapsed / self.duration if self.duration else 0.0


def narrate(
    text: str,
    output: str | Path | BinaryIO | None = None,
    *,
    voice: str | Path | Voice | None = None,
    rendering: Rendering | None = None,
    device: str = "auto",
    engine: Engine | None = None,
    progress: Progress | None = None,
    fallback_title: str | None = None,
) -> Narration:
    """Narrate *text* into one audio file.

    *output* is a path, a binary stream (standard output in a pipeline) or None,
    in which case the audio is returned in :attr:`Narration.audio`.  *voice* is
    a preset name, a preset file or a :class:`Voice`; *rendering* holds pauses,
    loudness and format.  An already loaded *engine* may be passed to narrate
    many texts with one model.  The title tag is ``rendering.tags["title"]``, else
    the text's first heading, else *fallback_title*.
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
    segments = split_text(text, language=voice.language, rendering=rendering)
    rendering = _with_default_tags(rendering, voice, segments, fallback_title)
    if isinstance(output, (str, Path)):
        with atomic_output(Path(output)) as temporary:
            result = _render(segments, temporary, voice, rendering, device, engine, progress)
        result.output = Path(output)
    else:
        with tempfile.TemporaryDirectory(prefix="narrator-") as folder:
            temporary = Path(folder) / f"narration.{rendering.format.value}"
            result = _render(segments, temporary, voice, rendering, device, engine, progress)
            if output is None:
                result.audio = np.concatenate(list(read_blocks(temporary))).astype(np.float32)
            else:
                copy_to_stream(temporary, output)
    result.elapsed = time.perf_counter() - started
    return result


def _render(
    segments: list[Segment],
    destination: Path,
    voice: Voice,
    rendering: Rendering,
    device: str,
    engine: Engine | None,
    progress: Progress | None,
) -> Narration:
    own_engine = engine is None
    if engine is None:
        engine = load_engine(voice, device=device)
    programme = Programme(engine.sample_rate)
    try:
        stitcher = Stitcher(engine.sample_rate, rendering)
        programme.append(stitcher.lead_in())
        synthesis = 0.0
        for done, segment in enumerate(segments, start=1):
            clips = []
            for piece in chunk(segment.text, engine.max_chars):
                began = time.perf_counter()
                clips.append(engine.synthesize(piece))
                synthesis += time.perf_counter() - began
            if not any(len(c) for c in clips):
                logger.warning("segment %d produced no audio: %r", segment.index, segment.text)
            programme.append(stitcher.add(clips, segment.pause))
            if progress is not None:
                progress(done, len(segments), segment)
        programme.append(stitcher.tail())
        mastered = master(programme, destination, rendering)
        return Narration(
            output=None,
            sample_rate=engine.sample_rate,
            duration=programme.duration,
            segments=segments,
            spans=stitcher.spans,
            voice=voice,
            mastered=mastered,
            synthesis_seconds=synthesis,
            elapsed=0.0,
        )
    finally:
        programme.close()
        if own_engine:
            engine.close()


def _with_default_tags(
    rendering: Rendering, voice: Voice, segments: list[Segment], fallback_title: str | None
) -> Rendering:
    tags = dict(rendering.tags)
    tags.setdefault("artist", voice.name)
    if "title" not in tags:
        if segments and segments[0].kind is Kind.HEADING:
            tags["title"] = segments[0].source
        elif fallback_title:
            tags["title"] = fallback_title
    return replace(rendering, tags=tags)
