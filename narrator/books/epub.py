"""EPUB 2 and EPUB 3: the spine, in order, as Markdown, with the table of contents as chapters.

The book is read with :mod:`zipfile` and its XML with ``defusedxml`` (entity
declarations and external entities refused, nothing fetched), never more than
:data:`MAX_MEMBER_BYTES` of one member or *max_bytes* in all, however much the
zip says a member unpacks to (a zip bomb is one clear error).

What is read: the spine's linear documents, in order; the table of contents
(the EPUB 3 navigation document, else the EPUB 2 NCX) gives the chapters and
their titles, and a chapter whose text has no heading where it starts gets its
title spoken as its heading; ``<h1>``-``<h6>`` are headings; paragraphs, list
items, block quotes, ``<br>``-separated lines and table rows (cell by cell) are
read; notes where the book puts them (unless *skip_notes*).

What is not read: the navigation document itself, non-linear spine items,
note references (``epub:type="noteref"``, a link whose text is only a
number or mark, superscript links), back links from notes, page-break markers,
images, SVG, MathML, scripts, styles, forms and hidden elements.
"""

from __future__ import annotations

import html.entities
import logging
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from ..errors import InputError
from ..text.reader import MAX_INPUT_BYTES

if TYPE_CHECKING:
    from . import Document

logger = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 32 * 2**20
"""The most bytes one member of the zip may unpack to (32 MiB): a chapter file or a
cover image is a small fraction of that, a zip bomb's member far more."""

_FONT_OBFUSCATION = frozenset({
    "http://www.idpf.org/2008/embedding",  # IDPF font obfuscation
    "http://ns.adobe.com/pdf/enc#RC",  # Adobe font obfuscation
})  # fmt: skip
"""Encryption algorithms that only hide embedded fonts, not the text (no DRM)."""

_XHTML = "{http://www.w3.org/1999/xhtml}"
_OPS = "{http://www.idpf.org/2007/ops}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_ENC = "{http://www.w3.org/2001/04/xmlenc#}"

_SKIPPED = frozenset({
    "head", "script", "style", "nav", "img", "svg", "image", "object", "embed", "video",
    "audio", "iframe", "form", "input", "button", "select", "textarea", "math", "canvas",
    "template", "map", "noscript",
})  # fmt: skip
"""Elements whose content is never read."""

_BLOCKS = frozenset({
    "p", "div", "section", "article", "aside", "blockquote", "li", "ul", "ol", "dl", "dt", "dd",
    "pre", "table", "thead", "tbody", "tfoot", "tr", "caption", "figure", "figcaption",
    "header", "footer", "main", "body", "hgroup", "address", "details", "summary", "center",
})  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_NOTE_TYPES = frozenset({
    "footnote", "footnotes", "endnote", "endnotes", "rearnote", "rearnotes", "note", "notes",
})  # fmt: skip
_NOTE_ROLES = frozenset({"doc-footnote", "doc-endnote", "doc-endnotes"})
_NOTE_CLASSES = frozenset({"footnote", "footnotes", "endnote", "endnotes"})
_PAGE_NUMBER_CLASSES = frozenset({"pagenum", "pagenumber", "page-number", "pageno", "page_number"})
"""Classes of the printed edition's page numbers (Project Gutenberg's ``pagenum``)."""
_NOTE_MARK = re.compile(r"^[\[(]?(?:\d{1,4}|[*†‡§¶#]+|[ivxlcIVXLC]{1,6}|[a-zA-Z])[\])]?\.?$")
"""The text of a link that is only a note's mark: ``1``, ``[12]``, ``*``, ``†``, ``iv``."""
_SCENE_BREAK = re.compile(r"^[*•·⁂~\-_=—–#§ ]+$")
"""A paragraph that is only a scene break's symbols."""
_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})

# Markdown that a line of book text must not be read as.
_INLINE_MARKUP = re.compile(r"([\\`*_~\[\]<>])")
_LINE_START = re.compile(r"^(\s*)(?:([#>+\-=|]|~~~|___|⁂)|(\d{1,9})([.)])(?=\s|$))")


@dataclass
class _TocEntry:
    title: str
    path: str
    fragment: str
    depth: int


@dataclass
class _Block:
    kind: str  # "heading", "paragraph", "item", "scene"
    text: str = ""
    level: int = 1
    quote: int = 0
    place: str = ""


@dataclass
class _Chapter:
    title: str
    depth: int
    block: int  # index into the book's blocks of the chapter's heading


@dataclass
class _Book:
    blocks: list[_Block] = field(default_factory=list)
    chapters: list[_Chapter] = field(default_factory=list)


class _Zip:
    """The EPUB's zip, read member by member within the caps."""

    def __init__(self, stream: BinaryIO, name: str, max_bytes: int) -> None:
        self.name = name
        self.left = max_bytes
        self.max_bytes = max_bytes
        try:
            self.zip = zipfile.ZipFile(stream)
            self.members = {info.filename: info for info in self.zip.infolist()}
        except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
            raise InputError(
                f"{name}: is not a readable EPUB (a damaged or truncated zip file: {exc})"
            ) from None

    def has(self, path: str) -> bool:
        return path in self.members

    def read(self, path: str) -> bytes:
        info = self.members.get(path)
        if info is None:
            raise InputError(f"{self.name}: the EPUB names {path!r}, which it does not contain")
        cap = min(MAX_MEMBER_BYTES, self.left)
        if info.file_size > cap:
            raise InputError(self._too_big(path, info.file_size))
        data = bytearray()
        try:
            with self.zip.open(info) as member:
                while True:
                    block = member.read(min(2**16, cap + 1 - len(data)))
                    if not block:
                        break
                    data += block
                    if len(data) > cap:  # the zip understated the size
                        raise InputError(self._too_big(path, len(data)))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise InputError(
                f"{self.name}: is not a readable EPUB ({path} is damaged: {exc})"
            ) from None
        self.left -= len(data)
        return bytes(data)

    def _too_big(self, path: str, size: int) -> str:
        if size > MAX_MEMBER_BYTES:
            return (
                f"{self.name}: {path} would unpack to more than {MAX_MEMBER_BYTES // 2**20} MiB "
                f"(narrator's limit for one member of an EPUB); refusing it as a possible "
                f"zip bomb"
            )
        return (
            f"{self.name}: unpacks to more than {_size(self.max_bytes)} in all (a possible zip "
            f"bomb); if it really is a book that large, raise the limit with --max-input-size"
        )

    def xml(self, path: str) -> Element:
        return parse_xml(self.read(path), f"{self.name}: {path}")


def parse_xml(data: bytes, where: str) -> Element:
    """Parse XML safely: no entity declarations (billion laughs), no external entities,
    nothing fetched; HTML's named entities (``&nbsp;``) are understood."""
    import defusedxml.ElementTree as safe
    from defusedxml import DefusedXmlException

    text = _named_entities(data)
    try:
        return safe.fromstring(text, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InputError(
            f"{where}: declares XML entities, which narrator refuses (entity expansion and "
            f"external entities are known attacks)"
        ) from None
    except Exception as exc:  # ParseError, and expat's own errors
        raise InputError(f"{where}: is not well-formed XML ({exc})") from None


def _named_entities(data: bytes) -> bytes:
    """*data* with HTML's named entities as numeric references (XML knows only five)."""
    if b"&" not in data:
        return data

    def numeric(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode("ascii")
        if name in _XML_ENTITIES or name not in html.entities.name2codepoint:
            return match.group(0)
        return b"&#%d;" % html.entities.name2codepoint[name]

    return re.sub(rb"&([A-Za-z][A-Za-z0-9]*);", numeric, data)


def read_epub(
    stream: BinaryIO, name: str, *, skip_notes: bool = False, max_bytes: int = MAX_INPUT_BYTES
) -> Document:
    """Read the EPUB 2 or 3 book in *stream* (a seekable binary file) as a Document."""
    from . import Chapter, Document

    book = _Zip(stream, name, max_bytes)
    _refuse_drm(book)
    opf_path = _package_path(book)
    opf = book.xml(opf_path)
    folder = posixpath.dirname(opf_path)
    metadata = opf.find(f"{_OPF}metadata")
    manifest: dict[str, dict[str, str]] = {}
    for item in opf.iter(f"{_OPF}item"):
        href = item.get("href")
        if item.get("id") and href:
            manifest[item.get("id", "")] = {
                "path": _join(folder, href),
                "type": item.get("media-type", ""),
                "properties": item.get("properties", ""),
            }
    spine = opf.find(f"{_OPF}spine")
    if spine is None:
        raise InputError(f"{name}: the EPUB has no spine (no reading order); is it damaged?")
    nav_id = next((i for i, m in manifest.items() if "nav" in m["properties"].split()), None)
    linear = []
    for itemref in spine.iter(f"{_OPF}itemref"):
        idref = itemref.get("idref", "")
        if itemref.get("linear", "yes").strip().lower() == "no" or idref == nav_id:
            continue
        entry = manifest.get(idref)
        if entry is not None and entry["type"] in ("application/xhtml+xml", "text/html", ""):
            linear.append(entry["path"])
    try:
        toc = _toc(book, manifest, nav_id, spine.get("toc"))
    except RecursionError:
        raise InputError(f"{name}: its table of contents nests too deeply to read") from None
    title, authors, language = _metadata(metadata)
    cover, cover_type = _cover(book, opf, manifest)
    converted = _convert(book, linear, toc, skip_notes)
    text, places, lines = _markdown(converted.blocks)
    chapters = [
        Chapter(c.title, lines[c.block], converted.blocks[c.block].place.split(",")[0])
        for c in converted.chapters
    ]
    if not text.strip():
        raise InputError(f"{name}: the EPUB has no text to read (only images, or empty)")
    return Document(
        text, title=title, authors=authors, language=language, cover=cover,
        cover_type=cover_type, chapters=chapters, places=places, format="epub",
    )  # fmt: skip


def _refuse_drm(book: _Zip) -> None:
    if book.has("META-INF/rights.xml"):
        raise InputError(f"{book.name}: the EPUB is encrypted (DRM); narrator cannot read it")
    if not book.has("META-INF/encryption.xml"):
        return
    root = book.xml("META-INF/encryption.xml")
    for method in root.iter(f"{_ENC}EncryptionMethod"):
        if method.get("Algorithm", "") not in _FONT_OBFUSCATION:
            raise InputError(f"{book.name}: the EPUB is encrypted (DRM); narrator cannot read it")


def _package_path(book: _Zip) -> str:
    if not book.has("META-INF/container.xml"):
        raise InputError(f"{book.name}: is not an EPUB (no META-INF/container.xml in the zip)")
    container = book.xml("META-INF/container.xml")
    for rootfile in container.iter(f"{_CONTAINER}rootfile"):
        path = rootfile.get("full-path")
        if path:
            return unquote(path)
    raise InputError(f"{book.name}: the EPUB's container.xml names no package document")


def _join(folder: str, href: str) -> str:
    path = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(folder, path)) if path else ""


def _metadata(metadata: Element | None) -> tuple[str | None, list[str], str | None]:
    if metadata is None:
        return None, [], None
    titles = [_clean(e.text or "") for e in metadata.iter(f"{_DC}title")]
    creators = [_clean(e.text or "") for e in metadata.iter(f"{_DC}creator")]
    languages = [_clean(e.text or "") for e in metadata.iter(f"{_DC}language")]
    return (
        next((t for t in titles if t), None),
        [c for c in creators if c],
        next((lang for lang in languages if lang), None),
    )


def _cover(
    book: _Zip, opf: Element, manifest: dict[str, dict[str, str]]
) -> tuple[bytes | None, str | None]:
    chosen = next(
        (m for m in manifest.values() if "cover-image" in m["properties"].split()), None
    )  # EPUB 3
    if chosen is None:  # EPUB 2: <meta name="cover" content="item id">
        for meta in opf.iter(f"{_OPF}meta"):
            if meta.get("name") == "cover" and meta.get("content") in manifest:
                chosen = manifest[meta.get("content", "")]
                break
    if chosen is None or not chosen["type"].startswith("image/") or not chosen["path"]:
        return None, None
    if not book.has(chosen["path"]):
        logger.warning("%s: the cover image %s is missing", book.name, chosen["path"])
        return None, None
    return book.read(chosen["path"]), chosen["type"]


def _toc(
    book: _Zip, manifest: dict[str, dict[str, str]], nav_id: str | None, ncx_id: str | None
) -> list[_TocEntry]:
    """The table of contents, flattened in reading order: the EPUB 3 nav, else the NCX."""
    if nav_id is not None and book.has(manifest[nav_id]["path"]):
        path = manifest[nav_id]["path"]
        root = book.xml(path)
        navs = [n for n in root.iter(f"{_XHTML}nav")]
        toc = next((n for n in navs if "toc" in n.get(f"{_OPS}type", "").split()), None)
        toc = toc if toc is not None else (navs[0] if navs else None)
        if toc is not None:
            entries: list[_TocEntry] = []
            _nav_list(toc, posixpath.dirname(path), 0, entries)
            if entries:
                return entries
    ncx = manifest.get(ncx_id or "") or next(
        (m for m in manifest.values() if m["type"] == "application/x-dtbncx+xml"), None
    )
    if ncx is None or not book.has(ncx["path"]):
        return []
    root = book.xml(ncx["path"])
    nav_map = root.find(f"{_NCX}navMap")
    entries = []
    if nav_map is not None:
        _ncx_points(nav_map, posixpath.dirname(ncx["path"]), 1, entries)
    return entries


def _nav_list(element: Element, folder: str, depth: int, out: list[_TocEntry]) -> None:
    for child in element:
        tag = _local(child.tag)
        if tag in ("ol", "ul"):
            _nav_list(child, folder, depth + 1, out)
        elif tag == "li":
            link = next((c for c in child if _local(c.tag) in ("a", "span")), None)
            if link is not None and link.get("href"):
                href = link.get("href", "")
                out.append(_TocEntry(
                    _clean("".join(link.itertext())), _join(folder, href),
                    unquote(href.partition("#")[2]), max(1, depth),
                ))  # fmt: skip
            _nav_list(child, folder, depth, out)
        elif tag not in ("a", "span"):
            _nav_list(child, folder, depth, out)


def _ncx_points(element: Element, folder: str, depth: int, out: list[_TocEntry]) -> None:
    for point in element.findall(f"{_NCX}navPoint"):
        label = point.find(f"{_NCX}navLabel/{_NCX}text")
        content = point.find(f"{_NCX}content")
        if content is not None and content.get("src"):
            src = content.get("src", "")
            title = _clean(label.text or "") if label is not None else ""
            out.append(_TocEntry(title, _join(folder, src), unquote(src.partition("#")[2]), depth))
        _ncx_points(point, folder, depth + 1, out)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _convert(book: _Zip, linear: list[str], toc: list[_TocEntry], skip_notes: bool) -> _Book:
    """The blocks of every linear document, with the chapters the TOC starts in them."""
    result = _Book()
    in_spine = set(linear)
    targets: dict[tuple[str, str], list[_TocEntry]] = {}
    for entry in toc:
        if entry.path in in_spine and entry.title:
            targets.setdefault((entry.path, entry.fragment), []).append(entry)
    for path in linear:
        root = book.xml(path)
        body = root.find(f"{_XHTML}body")
        if body is None:
            body = next((e for e in root.iter() if _local(e.tag) == "body"), None)
        if body is None:
            continue
        converter = _Converter(path, targets, skip_notes, result)
        converter.start_file()
        try:
            converter.element(body, 0)
        except RecursionError:
            raise InputError(f"{book.name}: {path} nests its elements too deeply to read") from None
        converter.flush()
    # A TOC entry whose anchor was never met starts nowhere: drop it, say so at debug level.
    return result


class _Converter:
    """XHTML body -> blocks (one document of the spine)."""

    def __init__(
        self, path: str, targets: dict[tuple[str, str], list[_TocEntry]], skip_notes: bool,
        book: _Book,
    ) -> None:  # fmt: skip
        self.path = path
        self.name = posixpath.basename(path)
        self.targets = targets
        self.skip_notes = skip_notes
        self.book = book
        self.inline: list[str] = []
        self.quote = 0
        self.item = False
        self.count = 0
        self.pending: list[_TocEntry] = []
        self.mark_first = False
        """A note's mark or back link began the paragraph: its punctuation goes too."""

    def start_file(self) -> None:
        self.pending.extend(self.targets.pop((self.path, ""), []))

    def add(self, block: _Block) -> None:
        if self.pending and block.kind != "scene":
            entries, self.pending = self.pending, []
            for entry in entries[:-1]:  # several entries start here: all but the last, spoken
                self._heading(entry.title, entry.depth, entry)
            last = entries[-1]
            if block.kind == "heading":
                block.level = min(6, last.depth)
                self._record(last, block)
                return
            self._heading(last.title, last.depth, last)
        self.count += 1
        block.place = f"{self.name}, paragraph {self.count}"
        block.quote = self.quote
        self.book.blocks.append(block)

    def _heading(self, title: str, depth: int, entry: _TocEntry) -> None:
        self._record(entry, _Block("heading", title, min(6, depth)))

    def _record(self, entry: _TocEntry, block: _Block) -> None:
        self.count += 1
        block.place = f"{self.name}, paragraph {self.count}"
        self.book.chapters.append(_Chapter(entry.title, entry.depth, len(self.book.blocks)))
        self.book.blocks.append(block)

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        if self.mark_first:
            text = text.lstrip(" \t\n.:)]")
            self.mark_first = False
        lines = [_clean(line) for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            return
        if len(lines) == 1 and _SCENE_BREAK.match(lines[0]):
            self.add(_Block("scene"))  # a paragraph of "* * *", "⁂", "~"
            return
        self.add(_Block("item" if self.item else "paragraph", "\n".join(lines)))
        self.item = False

    def anchor(self, element: Element) -> None:
        for key in (element.get("id"), element.get("name")):
            if key and (self.path, key) in self.targets:
                self.flush()
                self.pending.extend(self.targets.pop((self.path, key)))

    def element(self, element: Element, depth: int) -> None:
        tag = _local(element.tag)
        self.anchor(element)
        if self._skipped(element, tag):
            self._tail(element)
            return
        if tag in _HEADINGS:
            self.flush()
            words = _clean(self._text_of(element))
            self.mark_first = False  # a mark in a heading: not the next paragraph's business
            if words:
                self.add(_Block("heading", words, _HEADINGS[tag]))
            self._tail(element)
            return
        if tag == "hr":
            self.flush()
            self.add(_Block("scene"))
            self._tail(element)
            return
        if tag == "br":
            self.inline.append("\n")
            self._tail(element)
            return
        if tag == "tr":
            self.flush()
            cells = [_clean(self._text_of(c)) for c in element if _local(c.tag) in ("td", "th")]
            row = ", ".join(c for c in cells if c)
            if row:
                self.add(_Block("paragraph", row))
            self._tail(element)
            return
        block = tag in _BLOCKS
        if block:
            self.flush()
        quote, item = self.quote, self.item
        if tag == "blockquote":
            self.quote += 1
        if tag in ("li", "dd", "dt"):
            self.item = True
        if element.text:
            self.inline.append(element.text)
        for child in element:
            self.element(child, depth + 1)
        if block:
            self.flush()
        self.quote, self.item = quote, item
        self._tail(element)

    def _tail(self, element: Element) -> None:
        if element.tail:
            self.inline.append(element.tail)

    def _text_of(self, element: Element) -> str:
        """The readable text inside *element* (no note marks, images, ...), on one line."""
        parts: list[str] = []
        if element.text:
            parts.append(element.text)
        for child in element:
            self.anchor(child)
            if not self._skipped(child, _local(child.tag)):
                parts.append(" " if _local(child.tag) == "br" else self._text_of(child))
            if child.tail:
                parts.append(child.tail)
        return "".join(parts)

    def _skipped(self, element: Element, tag: str) -> bool:
        if tag in _SKIPPED or element.get("hidden") is not None:
            return True
        if element.get("aria-hidden", "").lower() == "true":
            return True
        if "display:none" in element.get("style", "").replace(" ", "").lower():
            return True
        types = set(element.get(f"{_OPS}type", "").split())
        role = element.get("role", "")
        classes = set(element.get("class", "").lower().split())
        if "pagebreak" in types or role == "doc-pagebreak" or classes & _PAGE_NUMBER_CLASSES:
            return True
        if tag == "a" and _is_note_link(element, types, role, classes):
            self.mark_first = self.mark_first or not "".join(self.inline).strip()
            return True
        if tag == "sup" and len(element) == 1 and _local(element[0].tag) == "a":
            link = element[0]
            if not (element.text or "").strip() and not (link.tail or "").strip():
                return True  # <sup><a href="#n1">1</a></sup>
        note = bool(types & _NOTE_TYPES or role in _NOTE_ROLES or classes & _NOTE_CLASSES)
        return self.skip_notes and note


def _is_note_link(element: Element, types: set[str], role: str, classes: set[str]) -> bool:
    if "noteref" in types or role in ("doc-noteref", "doc-backlink") or "backlink" in types:
        return True
    if classes & {"footnote-ref", "footnote-back", "noteref", "footnote-backref"}:
        return True
    if "#" not in element.get("href", ""):
        return False
    if len(element) == 1 and _local(element[0].tag) == "sup" and not (element.text or "").strip():
        return True  # <a href="#n1"><sup>1</sup></a>
    return _NOTE_MARK.match(_clean("".join(element.itertext()))) is not None


def _escape(line: str) -> str:
    """*line* as Markdown that reads as the text it is."""
    line = _INLINE_MARKUP.sub(r"\\\1", line)
    match = _LINE_START.match(line)
    if match is None:
        return line
    if match.group(2) is not None:
        start = match.start(2)
        return f"{line[:start]}\\{line[start:]}"
    if match.group(4) is not None:
        start = match.start(4)
        return f"{line[:start]}\\{line[start:]}"
    return line


def _markdown(blocks: list[_Block]) -> tuple[str, list[tuple[int, str]], list[int]]:
    """The Markdown text of *blocks*, its places, and the first line of each block."""
    out: list[str] = []
    places: list[tuple[int, str]] = []
    lines: list[int] = []
    line = 1
    for block in blocks:
        lines.append(line)
        places.append((line, block.place))
        if block.kind == "scene":
            written = ["* * *"]
        elif block.kind == "heading":
            written = ["#" * block.level + " " + _escape(block.text).replace("#", "\\#")]
        else:
            written = [_escape(part) for part in block.text.split("\n")]
            if len(written) > 1:  # lines of verse: a hard break at each line's end
                written = [part + "  " for part in written[:-1]] + written[-1:]
            if block.kind == "item":
                written[0] = "- " + written[0]
            if block.quote:
                written = ["> " * block.quote + part for part in written]
        out.append("\n".join(written))
        line += len(written) + 1
    return "\n\n".join(out) + "\n", places, lines


def _size(count: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count:,} bytes"
