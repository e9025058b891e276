"""Inputs beyond plain text: each reader turns a file into a :class:`Document`.

A document is Markdown that the text front end reads as it reads any Markdown
file (headings become chapters, paragraphs and lists keep their pauses), plus
what the file says about itself: title, authors, language, cover, chapters,
and where each stretch of the text came from (a chapter file, a page), so that
the audit and ``narrator split`` can point back into the source.

Plain text and Markdown are read as before; the book formats (EPUB, HTML, PDF)
each have a module of their own here, imported only when such a file is read.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError
from ..text.reader import MAX_INPUT_BYTES, STDIN, open_input

FORMATS = ("text", "markdown", "html", "epub", "pdf")
"""The input formats, as ``--input-format`` names them."""

SUFFIXES = {
    ".txt": "text", ".text": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".epub": "epub",
    ".pdf": "pdf",
}  # fmt: skip
"""The input format a file's suffix stands for; any other suffix is read as text."""


@dataclass
class Chapter:
    """A chapter of a document, as its table of contents or outline names it."""

    title: str
    line: int
    """The 1-based line of :attr:`Document.text` where the chapter's heading stands."""
    place: str = ""
    """Where it starts in the source, as messages show it (``ch03.xhtml``, ``page 12``)."""


@dataclass
class Document:
    """An input made ready for the text front end."""

    text: str
    """Markdown: ``#`` headings for chapters, blank lines between paragraphs."""
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    """The document's own language tag (``en``, ``de-AT``), when it declares one."""
    cover: bytes | None = None
    """The cover image, as stored in the file."""
    cover_type: str | None = None
    """The cover's media type (``image/jpeg``, ``image/png``)."""
    chapters: list[Chapter] = field(default_factory=list)
    places: list[tuple[int, str]] = field(default_factory=list)
    """``(first line, place)`` pairs in line order: the lines from *first line* on came
    from *place* in the source (``ch03.xhtml``, ``page 4``)."""
    format: str = "text"
    """The input format it was read as (one of :data:`FORMATS`)."""

    def place(self, line: int) -> str | None:
        """Where 1-based *line* of :attr:`text` came from in the source, if known."""
        index = bisect.bisect_right([first for first, _ in self.places], line) - 1
        return self.places[index][1] if index >= 0 else None


def input_format(source: str | Path, given: str | None = None) -> str:
    """The format to read *source* as: *given* (``--input-format``), else its suffix.

    Standard input and unknown suffixes are text unless *given* says otherwise.
    """
    if given is not None:
        name = given.strip().lower()
        if name not in FORMATS:
            raise OptionError(f"unknown input format {given!r}; choose one of {', '.join(FORMATS)}")
        return name
    if str(source) == STDIN:
        return "text"
    return SUFFIXES.get(Path(source).suffix.lower(), "text")


def load(
    source: str | Path,
    given_format: str | None = None,
    *,
    max_bytes: int = MAX_INPUT_BYTES,
) -> Document:
    """Read *source* (a path, or ``"-"`` for standard input) as a :class:`Document`."""
    fmt = input_format(source, given_format)
    if fmt in ("text", "markdown"):
        with open_input(source) as opened:
            return Document(opened.read(max_bytes), format=fmt)
    raise OptionError(f"reading {fmt.upper()} input is not supported yet")
