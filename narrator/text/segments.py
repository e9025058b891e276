"""Text -> segments: the units that are spoken one at a time, with the pause after each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from ..rendering import Boundary, Rendering
from .sentences import splitter_for


class Kind(str, Enum):
    """What a segment is."""

    HEADING = "heading"
    SENTENCE = "sentence"


@dataclass(frozen=True)
class Segment:
    """One unit of speech: synthesized in one call, followed by one pause."""

    index: int
    """Position in the narration, from 0."""

    text: str
    """What is spoken."""

    source: str
    """The original text it came from."""

    kind: Kind
    """Heading or sentence."""

    boundary: Boundary
    """What follows it: another sentence, a new paragraph, ... ."""

    pause: float
    """Seconds of silence after it."""

    paragraph: int
    """Index of the paragraph (or heading) it belongs to."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["boundary"] = self.boundary.value
        return data


@dataclass(frozen=True)
class Block:
    """A paragraph or a heading of the input."""

    kind: Kind
    text: str


_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_TERMINAL = re.compile(r"[.!?…:;]['\"”’)\]]*$")


def blocks(text: str) -> Iterator[Block]:
    """Paragraphs (separated by blank lines) and Markdown ``#`` headings, in order."""
    lines: list[str] = []
    for line in text.splitlines():
        heading = _ATX_HEADING.match(line)
        if heading or not line.strip():
            if lines:
                yield Block(Kind.SENTENCE, " ".join(lines))
                lines = []
            if heading and heading.group(2).strip():
                yield Block(Kind.HEADING, heading.group(2).strip())
            continue
        lines.append(line.strip())
    if lines:
        yield Block(Kind.SENTENCE, " ".join(lines))


def speakable(text: str) -> str:
    """Collapse runs of white space; the engine gets one clean line."""
    return " ".join(text.split())


def split_text(
    text: str, *, language: str = "en", rendering: Rendering | None = None
) -> list[Segment]:
    """Split *text* into segments, each with the pause that follows it."""
    rendering = rendering or Rendering()
    splitter = splitter_for(language)
    pieces: list[tuple[str, Kind, Boundary, int]] = []
    for number, block in enumerate(blocks(text)):
        if block.kind is Kind.HEADING:
            pieces.append((block.text, Kind.HEADING, Boundary.HEADING, number))
            continue
        sentences = splitter.split(block.text)
        for position, sentence in enumerate(sentences):
            last = position == len(sentences) - 1
            boundary = Boundary.PARAGRAPH if last else Boundary.SENTENCE
            pieces.append((sentence, Kind.SENTENCE, boundary, number))
    segments = []
    for index, (source, kind, boundary, paragraph) in enumerate(pieces):
        if index == len(pieces) - 1:
            boundary = Boundary.END
        spoken = speakable(source)
        if kind is Kind.HEADING and not _TERMINAL.search(spoken):
            spoken += "."
        segments.append(
            Segment(index, spoken, source, kind, boundary, rendering.pause_after(boundary), paragraph)
        )
    return segments
