"""Where things are in the finished audio: subtitle cues and chapters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import OptionError
from .stitch import Span
from .text import Kind, Segment

OPENING_TITLE = "Opening"
"""The title of the chapter made of the text before the first heading."""

CHAPTER_LEAD = 0.3
"""Seconds before a heading's first word that its chapter starts (within the pause before)."""


@dataclass(frozen=True)
class Cue:
    """One subtitle: a segment's source text and when it is spoken."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Chapter:
    """A chapter: a heading and the narration up to the next one."""

    title: str
    start: float
    end: float
    first_segment: int
    """Index of the chapter's first segment."""


def cues(segments: Sequence[Segment], spans: Sequence[Span], sample_rate: int) -> list[Cue]:
    """One cue per segment that produced speech."""
    return [
        Cue(span.start / sample_rate, span.end / sample_rate, " ".join(segment.source.split()))
        for segment, span in zip(segments, spans, strict=True)
        if span.end > span.start
    ]


def chapters(
    segments: Sequence[Segment],
    spans: Sequence[Span],
    sample_rate: int,
    duration: float,
    opening_title: str = OPENING_TITLE,
) -> list[Chapter]:
    """Chapters from the headings: each starts just before its heading is spoken.

    Text before the first heading becomes a chapter of its own, named
    *opening_title*.  A narration without headings has no chapters.
    """
    starts: list[tuple[str, float, int]] = []
    previous_end = 0.0
    for segment, span in zip(segments, spans, strict=True):
        if segment.kind is Kind.HEADING:
            start = max(previous_end, span.start / sample_rate - CHAPTER_LEAD)
            starts.append((segment.source.strip(), start, segment.index))
        previous_end = span.end / sample_rate
    if not starts:
        return []
    if starts[0][1] > 0.0 and starts[0][2] > 0:
        starts.insert(0, (opening_title, 0.0, 0))
    else:
        starts[0] = (starts[0][0], 0.0, starts[0][2])
    ends = [s[1] for s in starts[1:]] + [duration]
    return [Chapter(t, s, e, i) for (t, s, i), e in zip(starts, ends, strict=True)]


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def format_srt(items: Sequence[Cue]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n"
        for n, c in enumerate(items, start=1)
    ]
    return "\n".join(blocks)


def format_vtt(items: Sequence[Cue]) -> str:
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in items]
    return "WEBVTT\n\n" + "\n".join(blocks)


def subtitle_format(path: Path) -> str:
    """``srt`` or ``vtt`` from *path*'s suffix."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("srt", "vtt"):
        raise OptionError(f"subtitles must be a .srt or .vtt file, not {path.name!r}")
    return suffix


def render_subtitles(items: Sequence[Cue], path: Path) -> str:
    return format_srt(items) if subtitle_format(path) == "srt" else format_vtt(items)
