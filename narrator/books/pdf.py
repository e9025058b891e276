"""PDF files with a text layer -> a :class:`~narrator.books.Document` of Markdown.

The text is laid out again from where it stands on the page, with pdfminer.six's
layout analysis (characters -> lines -> text boxes), because a PDF's content stream
keeps text in drawing order, which is not reading order: a header drawn last, two
columns drawn line by line across.  pypdf, lighter, gives the stream's order or a
fixed-width rendering that puts both columns on one line; pdfminer gives each line
with its place, which the rest needs too.  From there:

* **Reading order**: the page's text boxes are cut recursively (XY-cut) at
  vertical gaps that no box crosses (columns, left to right) and then at
  horizontal gaps (bands, top to bottom), so a two- or three-column page reads
  column by column, and a full-width title or footnote band stays where it stands.
* **Paragraphs**: a text box is a paragraph (pdfminer separates boxes at gaps
  larger than half a line), split again where a line is indented as a paragraph's
  first line is, or where a line ending a sentence stops short of the column's edge.
  A paragraph that breaks off mid-sentence at a column's or page's end goes on in
  the next one when that starts in lower case or its last line was full.
* **Hyphens at line ends**: ``narra-`` + ``tion`` is joined to ``narration``,
  and ``well-`` + ``known`` keeps its hyphen.  The rule: a soft hyphen is always
  joined; a break after a word that has a hyphen already (``mother-in-``), before a
  capital (``Anglo-Saxon``) or next to a digit keeps it; otherwise the document
  itself decides when it has the word elsewhere on a line (``narration``, or
  ``well-known`` written with its hyphen); else an English lexicon (hibari's, when
  installed) decides (the joined word is a word: join; both halves are words and
  the joined one is not: keep); else the hyphen is taken for hyphenation and joined.
* **Running headers, footers and page numbers**: the top two and bottom two lines
  of a page, when they lie in its outer tenth, are dropped when the same line
  (digits aside) stands at the top or bottom of another page within
  :data:`HEADER_WINDOW` pages (so alternating left- and right-page headers are
  found too), or when they are a page number (``12``, ``Page 12``, ``- 12 -``,
  ``12 of 300``, ``xii``).
* **Chapters**: the outline (bookmarks) gives ``#`` headings (nested entries ``##``
  and so on) where its entries point, each top-level entry a chapter; the printed
  heading the entry points at is not read twice.  A PDF without an outline has no
  headings (font sizes are not guessed at).

Places are ``page N`` (1-based, as viewers count).  Pages are read one by one, and only
the text and the lines of a few pages around the current one are held, so memory
does not grow with the file's size.  Refused, with one clear error: a file that is
not a PDF, one that is truncated or damaged, one that needs a password, one with no
text layer (a scan: run OCR on it first), a page whose content would inflate beyond
:data:`MAX_PAGE_CONTENT_BYTES`, and text beyond *max_bytes*.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InputError
from ..text.reader import MAX_INPUT_BYTES, MAX_INPUT_ENV
from .html import escape

if TYPE_CHECKING:
    from . import Document

logger = logging.getLogger(__name__)

HEADER_WINDOW = 4
"""Pages before and after a page where its running header or footer must repeat."""
MARGIN_SHARE = 0.1
"""The share of the page's height, at its top and at its bottom, where headers and
footers stand."""
MARGIN_LINES = 2
"""Lines at each end of a page that may be a header or a footer."""
MAX_PAGE_CONTENT_BYTES = 64 * 2**20
"""The most a page's content stream may inflate to: more is a decompression bomb,
not text (a dense page of text is some tens of kilobytes)."""
_END_SCAN_BYTES = 2048
"""The end-of-file marker must stand within this many bytes of the end."""

_PAGE_NUMBER = re.compile(
    r"^[\W_]*(?:page|p\.|seite|página|pagina)?\s*(?:\d{1,5}|[ivxlcdm]{1,8})"
    r"(?:\s*(?:of|/|von|de)\s*\d{1,5})?[\W_]*$",
    re.IGNORECASE,
)
_LIGATURES = str.maketrans({
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
    "\ufb05": "st", "\ufb06": "st",
})  # fmt: skip
"""Typeset ligatures (TeX and most book fonts draw "fi" as one glyph) as their letters."""
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_ENDS_SENTENCE = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
_HYPHEN_BREAK = "\x00"
"""Marks a line end after a hyphen until the whole document decides whether to join."""
_HYPHENATED = re.compile(r"([^\W\d_]+(?:-[^\W\d_]+)*)-\x00([^\W\d_]+)")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def read_pdf(stream: BinaryIO, name: str, *, max_bytes: int = MAX_INPUT_BYTES) -> Document:
    """Read a PDF from *stream* (seekable) as a :class:`~narrator.books.Document`.

    *name* is how messages name the input; *max_bytes* caps the text read out of it
    (the file itself is read page by page, whatever its size).
    """
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.psparser import PSException

    _check_envelope(stream, name)
    document = _open(stream, name)
    info = _info(document)
    outline = _outline(document)
    manager = PDFResourceManager(caching=True)
    device = PDFPageAggregator(manager, laparams=LAParams(boxes_flow=None))
    interpreter = PDFPageInterpreter(manager, device)
    builder = _Builder(outline, max_bytes, name)
    window: deque[_Page] = deque()
    pages = images = 0
    pictures: list[int] = []  # pages that are pictures only
    try:
        for number, page in enumerate(PDFPage.create_pages(document), 1):
            pages = number
            _check_contents(page, name, number)
            interpreter.process_page(page)
            layout = device.get_result()
            record = _layout(layout, number, page.pageid)
            images += record.images
            if record.images and not record.lines:
                pictures.append(number)
            window.append(record)
            # A page is added once the pages after it that may repeat its header are read.
            while builder.last_page < number - HEADER_WINDOW:
                builder.add(window, builder.last_page + 1 - window[0].number)
            while len(window) > 2 * HEADER_WINDOW + 1:
                window.popleft()
    except InputError:
        raise
    except (PSException, ValueError, KeyError, TypeError, AttributeError, IndexError,
            AssertionError, zlib.error, OverflowError, RecursionError) as exc:  # fmt: skip
        raise InputError(f"{name}: is damaged, page {pages or 1} cannot be read ({exc})") from None
    while window and builder.last_page < window[-1].number:
        builder.add(window, builder.last_page + 1 - window[0].number)
    if pages == 0:
        raise InputError(f"{name}: has no pages")
    result = builder.finish()
    if not result.text.strip():
        if not images:
            raise InputError(f"{name}: has no text to read (its pages are blank)")
        raise InputError(
            f"{name}: has no text layer (its pages are pictures only, as a scan's are); "
            "narrator reads the text of a PDF, not its images: run it through OCR first "
            "(for example ocrmypdf)"
        )
    if pictures:
        logger.warning(
            "%s: %d page%s without a text layer (pictures only) not read: %s", name,
            len(pictures), "s" if len(pictures) > 1 else "", _page_list(pictures),
        )  # fmt: skip
    result.title = info.get("Title") or None
    author = info.get("Author")
    result.authors = [author] if author else []
    result.language = info.get("Lang") or None
    result.format = "pdf"
    return result


def _page_list(numbers: list[int]) -> str:
    """``1-3, 7``: page numbers in runs."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs)


def _check_envelope(stream: BinaryIO, name: str) -> None:
    """Refuse a file that is not a PDF, or whose end is missing (truncated)."""
    try:
        stream.seek(0)
        head = stream.read(1024)
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(max(0, size - _END_SCAN_BYTES))
        tail = stream.read(_END_SCAN_BYTES)
        stream.seek(0)
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if b"%PDF-" not in head:
        raise InputError(f"{name}: is not a PDF (it does not start with %PDF-)")
    if b"%%EOF" not in tail:
        raise InputError(
            f"{name}: is truncated or damaged (its end-of-file marker is missing); "
            "get a complete copy of the PDF"
        )


def _open(stream: BinaryIO, name: str) -> Any:
    """The pdfminer document, opened without a password (objects read when needed)."""
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError
    from pdfminer.pdfparser import PDFParser
    from pdfminer.psparser import PSException

    try:
        return PDFDocument(PDFParser(stream), password="", caching=False)
    except PDFEncryptionError:
        raise InputError(
            f"{name}: is encrypted (it needs a password to open); narrator cannot read "
            "it: save a copy without the password first"
        ) from None
    except (PSException, ValueError, KeyError, TypeError, AttributeError, IndexError,
            zlib.error, RecursionError) as exc:  # fmt: skip
        raise InputError(f"{name}: is damaged or not a PDF ({exc})") from None


def _info(document: Any) -> dict[str, str]:
    """The document information dictionary's strings (Title, Author), and the
    catalog's language."""
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    found: dict[str, str] = {}
    try:
        for info in document.info:
            for key in ("Title", "Author"):
                value = resolve1(info.get(key))
                if isinstance(value, bytes):
                    text = _SPACE.sub(" ", decode_text(value)).strip()
                    if text:
                        found.setdefault(key, text)
        lang = resolve1(document.catalog.get("Lang"))
        if isinstance(lang, bytes):
            found["Lang"] = lang.decode("ascii", "ignore").strip()
    except Exception:  # noqa: BLE001 (metadata is a nicety: a broken Info is no reason to fail)
        pass
    return found


@dataclass
class _Entry:
    level: int
    title: str
    top: float | None
    chapter: bool


def _outline(document: Any) -> dict[object, list[_Entry]]:
    """The outline's entries by the object id of the page each points at."""
    from pdfminer.pdfdocument import PDFNoOutlines
    from pdfminer.pdftypes import PDFObjRef, resolve1
    from pdfminer.psparser import PSLiteral

    entries: dict[object, list[_Entry]] = {}
    try:
        outline = list(document.get_outlines())
    except PDFNoOutlines:
        return entries
    except Exception:  # noqa: BLE001 (a broken outline: the text is still worth reading)
        logger.warning("the PDF's outline cannot be read; reading it without chapters")
        return entries
    if not outline:
        return entries
    top_level = min(level for level, *_ in outline)
    for level, title, dest, action, _ in outline:
        try:
            if dest is None and action is not None:
                action = resolve1(action)
                if isinstance(action, dict):
                    dest = action.get("D")
            dest = resolve1(dest)
            if isinstance(dest, (bytes, PSLiteral)):
                key = dest.name if isinstance(dest, PSLiteral) else dest
                dest = resolve1(document.get_dest(key))
            if isinstance(dest, dict):
                dest = resolve1(dest.get("D"))
            if not isinstance(dest, list) or not dest or not isinstance(dest[0], PDFObjRef):
                continue
            top = None
            kind = resolve1(dest[1]) if len(dest) > 1 else None
            if isinstance(kind, PSLiteral) and kind.name == "XYZ" and len(dest) > 3:
                value = resolve1(dest[3])
                top = float(value) if isinstance(value, (int, float)) else None
        except Exception:  # noqa: BLE001 (one broken entry is skipped, as viewers do)
            continue
        title = _SPACE.sub(" ", str(title or "")).strip()
        if title:
            entries.setdefault(dest[0].objid, []).append(
                _Entry(level - top_level + 1, title, top, level == top_level)
            )
    return entries


def _check_contents(page: Any, name: str, number: int) -> None:
    """Refuse a page whose (Flate-compressed) content inflates beyond the cap, before
    pdfminer inflates it whole; ASCII85 and hex encodings before the Flate one are
    undone first (they shrink the data)."""
    from pdfminer.ascii85 import ascii85decode, asciihexdecode
    from pdfminer.pdftypes import resolve1

    for stream in page.contents:
        stream = resolve1(stream)
        if not hasattr(stream, "get_filters") or not isinstance(stream.rawdata, bytes):
            continue
        data = stream.rawdata
        if stream.decipher:  # an encrypted file (opened without a password)
            data = stream.decipher(stream.objid, stream.genno, data, stream.attrs)
        for kind, _ in stream.get_filters():
            kind = getattr(kind, "name", kind)
            if kind in ("ASCII85Decode", "A85", "ASCIIHexDecode", "AHx"):
                try:
                    data = ascii85decode(data) if "85" in kind else asciihexdecode(data)
                except Exception:  # noqa: BLE001 (pdfminer's own reading reports it)
                    break
            elif kind in ("FlateDecode", "Fl"):
                inflater = zlib.decompressobj()
                try:
                    inflater.decompress(data, MAX_PAGE_CONTENT_BYTES)
                except zlib.error:
                    break  # pdfminer's own reading deals with (or reports) broken data
                if inflater.unconsumed_tail:
                    raise InputError(
                        f"{name}: page {number} inflates to more than "
                        f"{MAX_PAGE_CONTENT_BYTES:,} bytes of drawing instructions "
                        "(a decompression bomb, not text); narrator does not read it"
                    )
                break
            else:
                break


# --- One page: lines in reading order -----------------------------------------------------


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    box: int
    box_x0: float
    box_x1: float


@dataclass
class _Page:
    number: int
    pageid: object
    height: float
    lines: list[_Line] = field(default_factory=list)
    images: int = 0
    head: list[str] = field(default_factory=list)  # keys of its margin lines
    foot: list[str] = field(default_factory=list)


def _layout(layout: Any, number: int, pageid: object) -> _Page:
    """The page's text lines in reading order."""
    from pdfminer.layout import LTChar, LTFigure, LTImage, LTTextBox, LTTextLine

    page = _Page(number, pageid, float(layout.height))
    boxes: list[Any] = []
    for item in layout:
        if isinstance(item, (LTTextBox, LTTextLine)):  # (a line may stand outside any box)
            boxes.append(item)
        elif isinstance(item, (LTFigure, LTImage)):
            page.images += 1
    for index, box in enumerate(_reading_order(boxes)):
        lines = box if not isinstance(box, LTTextLine) else [box]
        for line in lines:
            if not isinstance(line, LTTextLine):
                continue
            text = _SPACE.sub(" ", line.get_text().translate(_LIGATURES)).strip()
            if not text:
                continue
            sizes = [c.size for c in line if isinstance(c, LTChar)]
            page.lines.append(_Line(
                text, line.x0, line.x1, page.height - line.y1, page.height - line.y0,
                sorted(sizes)[len(sizes) // 2] if sizes else line.height, index, box.x0, box.x1,
            ))  # fmt: skip
    margin = page.height * MARGIN_SHARE
    by_top = sorted(page.lines, key=lambda ln: ln.top)
    page.head = [_key(ln.text) for ln in by_top[:MARGIN_LINES] if ln.bottom <= margin]
    page.foot = [_key(ln.text) for ln in by_top[-MARGIN_LINES:] if ln.top >= page.height - margin]
    return page


def _reading_order(boxes: list[Any]) -> list[Any]:
    """*boxes* in reading order: cut at vertical gaps (columns) first, then at
    horizontal ones (bands), recursively; what cannot be cut, top to bottom."""
    if len(boxes) <= 1:
        return list(boxes)
    for groups in (_split(boxes, "x"), _split(boxes, "y")):
        if len(groups) > 1:
            return [box for group in groups for box in _reading_order(group)]
    return sorted(boxes, key=lambda b: (-b.y1, b.x0))


def _split(boxes: list[Any], axis: str) -> list[list[Any]]:
    """*boxes* in groups between which a gap runs across the whole set: left to right
    (axis ``x``) or top to bottom (axis ``y``)."""
    if axis == "x":
        spans = sorted(((b.x0, b.x1, b) for b in boxes), key=lambda s: s[0])
    else:
        spans = sorted(((-b.y1, -b.y0, b) for b in boxes), key=lambda s: s[0])
    groups: list[list[Any]] = []
    end = None
    for start, stop, box in spans:
        if end is None or start > end:
            groups.append([box])
            end = stop
        else:
            groups[-1].append(box)
            end = max(end, stop)
    return groups


def _key(text: str) -> str:
    """A margin line's text, its numbers aside: the same running header on every page."""
    return _DIGITS.sub("#", text.lower())


def _margins(page: _Page, window: deque[_Page]) -> set[int]:
    """The ids of *page*'s lines that are running headers, footers or page numbers."""
    margin = page.height * MARGIN_SHARE
    by_top = sorted(page.lines, key=lambda ln: ln.top)
    ends = [ln for ln in by_top[:MARGIN_LINES] if ln.bottom <= margin]
    ends += [ln for ln in by_top[-MARGIN_LINES:] if ln.top >= page.height - margin]
    repeated: set[str] = set()
    for other in window:
        if other is not page and abs(other.number - page.number) <= HEADER_WINDOW:
            repeated.update(other.head + other.foot)
    return {
        id(line) for line in ends if _PAGE_NUMBER.match(line.text) or _key(line.text) in repeated
    }


# --- The document: paragraphs, headings, hyphens ---------------------------------------------


@dataclass
class _Paragraph:
    page: int
    text: str
    heading: int = 0
    top: float = 0.0  # of its first line, from the page's top
    open_end: bool = False  # the last line ends mid-sentence and runs to the column's edge
    continues: bool = False  # may go on from the paragraph before it


class _Builder:
    """Gathers the pages' paragraphs in order and writes the Markdown at the end."""

    def __init__(self, outline: dict[object, list[_Entry]], max_bytes: int, name: str) -> None:
        self.outline = outline
        self.max_bytes = max_bytes
        self.name = name
        self.paragraphs: list[_Paragraph] = []
        self.size = 0
        self.last_page = 0

    def add(self, window: deque[_Page], index: int) -> None:
        """Add the paragraphs of ``window[index]``, now that the pages around it are known."""
        page = window[index]
        self.last_page = page.number
        margins = _margins(page, window)
        lines = [ln for ln in page.lines if id(ln) not in margins]
        entries = list(self.outline.get(page.pageid, []))
        paragraphs = _paragraphs(lines, page.number)
        start = 0  # where an entry that names no place on the page goes: the page's top
        for entry in entries:
            title = _key(entry.title).strip()
            at = next((i for i, p in enumerate(paragraphs) if not p.heading
                       and _key(p.text).strip(" .") == title.strip(" .")), None)  # fmt: skip
            if at is not None:
                paragraphs[at] = _Paragraph(page.number, entry.title, entry.level)
                continue
            if entry.top is None:
                at, start = start, start + 1
            else:
                at = next((i for i, p in enumerate(paragraphs) if p.top >= (
                    page.height - entry.top - 2)), len(paragraphs))  # fmt: skip
            paragraphs.insert(at, _Paragraph(page.number, entry.title, entry.level))
        for paragraph in paragraphs:
            self.size += len(paragraph.text.encode("utf-8", "replace")) + 2
            if self.size > self.max_bytes:
                raise InputError(
                    f"{self.name}: has more than {self.max_bytes:,} bytes of text; if it "
                    f"really is to be narrated, raise the limit with --max-input-size (or "
                    f"{MAX_INPUT_ENV})"
                )
        self.paragraphs.extend(paragraphs)

    def finish(self) -> Document:
        from . import Chapter, Document

        merged: list[_Paragraph] = []
        for paragraph in self.paragraphs:
            last = merged[-1] if merged else None
            if (
                last is not None
                and not last.heading
                and not paragraph.heading
                and paragraph.continues
                and (last.open_end or paragraph.text[:1].islower())
                and not _ENDS_SENTENCE.search(last.text)
            ):
                last.text = _join(last.text, paragraph.text)
                continue
            merged.append(paragraph)
        vocabulary = _vocabulary(merged)
        lines: list[str] = []
        places: list[tuple[int, str]] = []
        chapters: list[Chapter] = []
        page = 0
        for paragraph in merged:
            text = _HYPHENATED.sub(lambda m: _unhyphenate(m, vocabulary), paragraph.text)
            text = text.replace(_HYPHEN_BREAK, "")
            if lines:
                lines.append("")
            if paragraph.page != page or paragraph.heading:
                page = paragraph.page
                places.append((len(lines) + 1, f"page {page}"))
            if paragraph.heading:
                level = min(paragraph.heading, 6)
                if level == 1 or not chapters:
                    chapters.append(Chapter(text, len(lines) + 1, f"page {page}"))
                lines.append("#" * level + " " + escape(text))
            else:
                lines.append(escape(text))
        return Document("\n".join(lines) + "\n" if lines else "", chapters=chapters,
                        places=places, format="pdf")  # fmt: skip


def _paragraphs(lines: list[_Line], page: int) -> list[_Paragraph]:
    """The paragraphs of a page's lines (in reading order, margins gone)."""
    paragraphs: list[_Paragraph] = []
    previous: _Line | None = None
    lefts: dict[int, float] = {}  # each box's left edge, where its unindented lines start
    for line in lines:
        lefts[line.box] = min(lefts.get(line.box, line.x0), line.x0)
    for line in lines:
        left = lefts[line.box]
        indented = line.x0 - left > 0.8 * line.size
        new = (
            previous is None
            or line.box != previous.box
            or (indented and previous.x0 - left <= 0.8 * line.size)
            or (
                _ENDS_SENTENCE.search(previous.text)
                and previous.x1 < previous.box_x1 - 2 * line.size
            )
            or line.top - previous.bottom > 1.5 * line.size
        )
        if new:
            paragraph = _Paragraph(page, line.text)
            paragraph.continues = not indented
            paragraph.top = line.top
            paragraphs.append(paragraph)
        else:
            paragraphs[-1].text = _join(paragraphs[-1].text, line.text)
        paragraphs[-1].open_end = (
            line.x1 >= line.box_x1 - 2 * line.size and not _ENDS_SENTENCE.search(line.text)
        )
        previous = line
    return paragraphs


def _join(text: str, following: str) -> str:
    """Two lines of one paragraph joined: a hyphen at the line end is marked for the
    document-wide decision (see the module's notes); a soft hyphen is joined."""
    if text.endswith("\u00ad"):
        return text[:-1] + following
    if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and following[:1].isalpha():
        return text + _HYPHEN_BREAK + following
    return text + " " + following


def _vocabulary(paragraphs: list[_Paragraph]) -> Counter[str]:
    """The words of the document (lower case), line-end hyphenations aside."""
    words: Counter[str] = Counter()
    for paragraph in paragraphs:
        text = _HYPHENATED.sub(" ", paragraph.text)
        words.update(word.lower() for word in _WORD.findall(text))
    return words


def _unhyphenate(match: re.Match[str], vocabulary: Counter[str]) -> str:
    """``left-`` + ``right`` at a line end: joined, or with the hyphen kept."""
    left, right = match.group(1), match.group(2)
    joined, kept = left + right, f"{left}-{right}"
    if "-" in left or right[:1].isupper():
        return kept
    if vocabulary[kept.lower()] > vocabulary[joined.lower()]:
        return kept
    if vocabulary[joined.lower()]:
        return joined
    words = _lexicon()
    if words:
        last = left.rsplit("-", 1)[-1].lower()
        if (last + right).lower() in words:
            return joined
        if last in words and right.lower() in words:
            return kept
    return joined


@cache
def _lexicon() -> frozenset[str]:
    """English words, from the lexicon hibari (a default dependency) ships; empty without it."""
    try:
        path = resources.files("hibari") / "assets" / "lexicon_us_gold.json.gz"
        with path.open("rb") as raw, gzip.open(raw) as unpacked:
            return frozenset(key.lower() for key in json.load(unpacked))
    except Exception:  # noqa: BLE001 (no lexicon: the document and the default decide)
        return frozenset()
