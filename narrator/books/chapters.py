"""A document's chapters: listed (``narrator chapters``), counted, and picked (``--chapters``).

The chapters of a book are its table of contents or outline
(:attr:`Document.chapters`); those of a text or Markdown file are its headings,
as the narration makes chapters of them.  Text before the first chapter (a
title page, a preface outside the table of contents) is chapter 0, so that
chapter 1 is the first one the book itself names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import OptionError
from . import Chapter, Document

WORD = re.compile(r"[^\W_]+")
"""A word, as the audit counts them: a run of letters and digits."""

WORDS_PER_MINUTE = {"hibari": 167.0, "piper": 173.0}
"""Words each engine narrates per minute of audio, pauses included, at speed 1.0.

Measured with its default voice (hibari: heart, Piper: joe) on the three texts in
benchmarks/texts (856 words, counted as the audit counts them, in 307 s and 296 s of
audio with narrator's default pauses; each text alone gave 156 to 191).  Engines not
measured (Kokoro, Coqui) are estimated at :data:`DEFAULT_WORDS_PER_MINUTE`."""

DEFAULT_WORDS_PER_MINUTE = 155.0
"""The audiobook industry's usual narration pace, for engines not measured."""

OPENING = "(before the first chapter)"
"""The title listed for chapter 0, the text before the first chapter."""


@dataclass(frozen=True)
class Listed:
    """One chapter as ``narrator chapters`` shows it."""

    number: int
    title: str
    first_line: int
    last_line: int
    """The chapter's lines of :attr:`Document.text`, from 1, both included."""
    words: int
    place: str = ""

    def minutes(self, words_per_minute: float) -> float:
        return self.words / words_per_minute

    def to_dict(self, words_per_minute: float) -> dict[str, object]:
        return {
            "number": self.number, "title": self.title, "words": self.words,
            "minutes": round(self.minutes(words_per_minute), 1), "place": self.place or None,
        }  # fmt: skip


def chapters_of(document: Document) -> list[Chapter]:
    """The document's chapters: its own, else its headings (as narration makes them)."""
    if document.chapters:
        return list(document.chapters)
    from ..text import markup
    from ..text.audit import Positions

    blocks, _ = markup.parse(document.text)
    where = Positions(document.text)
    found = []
    for block in blocks:
        if block.kind == markup.HEADING and block.text.text.strip():
            line = where(block.text.span[0])[0]
            found.append(Chapter(block.text.text.strip(), line, document.place(line) or ""))
    return found


def listing(document: Document) -> list[Listed]:
    """Every chapter with its number, lines and words; chapter 0 when text comes first."""
    lines = document.text.split("\n")
    found = chapters_of(document)
    starts = [c.line for c in found]
    listed = []
    first = starts[0] if starts else len(lines) + 1
    opening = sum(len(WORD.findall(line)) for line in lines[: first - 1])
    if opening or not found:
        listed.append(Listed(0, OPENING if found else document.title or "(all)", 1,
                             first - 1, opening, document.place(1) or ""))  # fmt: skip
    for number, chapter in enumerate(found, start=1):
        end = starts[number] - 1 if number < len(found) else len(lines)
        words = sum(len(WORD.findall(line)) for line in lines[chapter.line - 1 : end])
        listed.append(Listed(number, chapter.title, chapter.line, end, words, chapter.place))
    return listed


def parse_selection(spec: str) -> list[tuple[int, int]]:
    """``"3-7,10"`` -> ``[(3, 7), (10, 10)]``; raises :class:`OptionError` when malformed."""
    ranges = []
    for part in spec.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if match is None:
            raise OptionError(
                f"--chapters {spec!r}: give chapter numbers and ranges, such as 3-7,10"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first:
            raise OptionError(f"--chapters {spec!r}: the range {part} runs backwards")
        ranges.append((first, last))
    return ranges


def select(document: Document, spec: str) -> Document:
    """The document with only the chapters *spec* names (see :func:`parse_selection`)."""
    ranges = parse_selection(spec)
    listed = listing(document)
    numbers = {c.number for c in listed}
    wanted = {n for first, last in ranges for n in range(first, last + 1)}
    missing = sorted(wanted - numbers)
    if missing:
        low, high = min(numbers), max(numbers)
        raise OptionError(
            f"--chapters {spec}: there is no chapter {missing[0]}; the book has chapters "
            f"{low} to {high} (see: narrator chapters)"
        )
    lines = document.text.split("\n")
    kept: list[str] = []
    places: list[tuple[int, str]] = []
    chapters: list[Chapter] = []
    own = {c.line: c for c in document.chapters}
    for chapter in listed:
        if chapter.number not in wanted:
            continue
        offset = len(kept) + 1 - chapter.first_line  # new line = old line + offset
        for first, place in document.places:
            if chapter.first_line <= first <= chapter.last_line:
                places.append((first + offset, place))
        if (document.places and chapter.first_line not in {p for p, _ in document.places}
                and document.place(chapter.first_line)):  # fmt: skip
            places.append((chapter.first_line + offset, document.place(chapter.first_line) or ""))
        for line, mine in own.items():
            if chapter.first_line <= line <= chapter.last_line:
                chapters.append(replace(mine, line=line + offset))
        kept.extend(lines[chapter.first_line - 1 : chapter.last_line])
        kept.append("")
    places.sort()
    chapters.sort(key=lambda c: c.line)
    return replace(document, text="\n".join(kept), places=places, chapters=chapters)


def words_per_minute(engine: str, speed: float = 1.0) -> float:
    """The estimated narration pace of an engine at *speed* (see :data:`WORDS_PER_MINUTE`)."""
    return WORDS_PER_MINUTE.get(engine, DEFAULT_WORDS_PER_MINUTE) * speed
