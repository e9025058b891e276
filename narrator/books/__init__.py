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
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError, OptionError
from ..text.reader import MAX_INPUT_BYTES, STDIN, TextInput, open_input

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

SPOOL_MEMORY_BYTES = 8 * 2**20
"""Bytes of a book read from standard input that are held in memory; the rest of the
copy (up to ``--max-input-size``) goes to a temporary file."""


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
    source: str | Path | TextInput,
    given_format: str | None = None,
    *,
    max_bytes: int = MAX_INPUT_BYTES,
    extract: bool | None = None,
    skip_notes: bool = False,
    chapters: str | None = None,
) -> Document:
    """Read *source* (a path, or ``"-"`` for standard input) as a :class:`Document`.

    *source* may also be an input opened already (:func:`narrator.text.open_input`), so that
    a command can fail early on a missing file and still read a FIFO only once; it is
    read here and left for the caller to close.

    *given_format* is ``--input-format`` (else the suffix decides, see
    :func:`input_format`); *extract* (HTML) keeps only a page's main article (None:
    on for HTML files, off for EPUB chapters); *skip_notes* leaves footnotes and
    endnotes out of EPUB and HTML books; *chapters* (``--chapters 3-7,10``) keeps only
    those chapters (see :func:`narrator.books.chapters.select`).
    """
    document = _read(source, given_format, max_bytes, extract, skip_notes)
    if chapters is not None:
        from .chapters import select

        document = select(document, chapters)
    return document


def _read(
    source: str | Path | TextInput,
    given_format: str | None,
    max_bytes: int,
    extract: bool | None,
    skip_notes: bool,
) -> Document:
    fmt = input_format(source.source if isinstance(source, TextInput) else source, given_format)
    if fmt in ("text", "markdown"):
        with _opened(source) as opened:
            return Document(opened.read(max_bytes), format=fmt)
    with open_binary(source, max_bytes) as (stream, name):
        if fmt == "epub":
            from .epub import read_epub

            return read_epub(stream, name, skip_notes=skip_notes, max_bytes=max_bytes)
        if fmt == "html":
            from .html import read_html

            return read_html(stream, name, extract=True if extract is None else extract,
                             skip_notes=skip_notes, max_bytes=max_bytes)  # fmt: skip
        from .pdf import read_pdf  # the last of FORMATS

        return read_pdf(stream, name, max_bytes=max_bytes)


@contextlib.contextmanager
def open_binary(
    source: str | Path | TextInput, max_bytes: int = MAX_INPUT_BYTES
) -> Iterator[tuple[BinaryIO, str]]:
    """A seekable binary stream of *source*, and how messages name it.

    A file is opened as it is; standard input (``"-"``), a pipe or a FIFO, which
    cannot seek, is copied into a spooled temporary file first (in memory up to
    :data:`SPOOL_MEMORY_BYTES`, then on disk), at most *max_bytes* of it.
    """
    with _opened(source) as opened:  # the same checks and messages as for text
        name = opened.name
        raw = opened.stream
        seekable = False
        with contextlib.suppress(OSError, ValueError, AttributeError):
            seekable = raw.seekable()
        if seekable:
            yield raw, name
            return
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            copied = 0
            try:
                while block := raw.read(min(2**20, max_bytes + 1 - copied)):
                    spool.write(block)
                    copied += len(block)
                    if copied > max_bytes:
                        raise InputError(
                            f"{name}: is larger than {max_bytes:,} bytes; raise the limit "
                            f"with --max-input-size"
                        )
            except OSError as exc:
                raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
            if not copied:
                raise InputError(f"{name}: is empty; there is nothing to narrate")
            spool.seek(0)
            yield spool, name  # type: ignore[misc]


@contextlib.contextmanager
def _opened(source: str | Path | TextInput) -> Iterator[TextInput]:
    """*source* opened (and closed after), or as it is when it was opened already."""
    if isinstance(source, TextInput):
        yield source
        return
    with open_input(source) as opened:
        yield opened


def read_cover(path: str | Path) -> bytes:
    """The cover image at *path* (``--cover``), checked to be a JPEG or PNG."""
    from ..rendering import cover_type

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"--cover {path}: cannot read it ({exc.strerror or exc})") from None
    if cover_type(data) is None:
        raise InputError(f"--cover {path}: is not a JPEG or PNG image")
    return data


def title_from_name(path: str | Path) -> str:
    """The title a file gets when it names none itself: its name, in title case."""
    return Path(path).stem.replace("_", " ").replace("-", " ").strip().title()
