"""HTML and XHTML pages -> a :class:`~narrator.books.Document` of Markdown.

What is read: headings (``#`` to ``######``), paragraphs, list items (``- ``, ``1. ``),
block quotes (``> ``), ``<br>``-separated lines (verse, addresses: a paragraph of
short lines, which the front end reads with a breath at each line end), figure
captions, definition lists, ``<pre>`` text, and tables row by row (each row one
item, each cell named after its column header: ``Name: Ada; Born: 1815``).  A
``<hr>`` is a scene break.

What is not read: ``<script>``, ``<style>``, ``<template>``, ``<noscript>``, ``<nav>``,
forms and their controls, embedded media and images, the page's own ``<header>`` and
``<footer>`` (a header inside an ``<article>`` or ``<section>``, where the article's
title stands, is read), ARIA navigation, banner and search landmarks, hidden elements
(the ``hidden`` attribute, ``aria-hidden="true"``, an inline ``display: none`` or
``visibility: hidden``), and note references (``epub:type="noteref"``,
``role="doc-noteref"``, a superscript link to a note); the notes themselves are
read where they stand, or left out with *skip_notes*.

With *extract* (the default for HTML files), the page is first reduced to its main
text by trafilatura, an established article extractor: a saved news page reads as
the article, without menus, cookie banners, "related" boxes and comments.  A page
where it finds no article is read whole (after the clean-up above), with a warning.

Safety: the page is read into memory up to *max_bytes*; a document type that
declares its own entities (``<!ENTITY``: the "billion laughs" expansion and
external entities that read files or URLs) is refused before any parsing; XML is
parsed with entity resolution, DTD loading and network access off; nothing is
fetched (no stylesheets, images or frames).
"""

from __future__ import annotations

import codecs
import copy
import html as html_module
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from ..errors import InputError
from ..text.reader import MAX_INPUT_BYTES, MAX_INPUT_ENV

if TYPE_CHECKING:
    from lxml.html import HtmlElement

    from . import Document

logger = logging.getLogger(__name__)

XHTML_NAMESPACE = "http://www.w3.org/1999/xhtml"

SKIPPED_TAGS = frozenset({
    "script", "style", "template", "noscript", "nav", "form", "button", "input", "select",
    "textarea", "option", "label", "iframe", "frame", "frameset", "object", "embed", "svg",
    "math", "canvas", "video", "audio", "img", "picture", "source", "map", "area", "head",
    "dialog", "menu",
})  # fmt: skip
"""Elements whose content is never read."""

SKIPPED_ROLES = frozenset({
    "navigation", "banner", "contentinfo", "search", "menu", "menubar", "doc-noteref",
    "complementary", "dialog", "alertdialog", "toolbar",
})  # fmt: skip
"""ARIA roles whose element is not read (the page's navigation, its banner and footer,
sidebars, pop-ups, note references)."""

NOTE_TYPES = frozenset({
    "footnote", "endnote", "endnotes", "footnotes", "rearnote", "rearnotes", "note",
    "doc-footnote", "doc-endnote", "doc-endnotes",
})  # fmt: skip
"""``epub:type`` and ``role`` values of notes, left out with *skip_notes*."""

SECTIONING = frozenset({"article", "section", "main", "aside", "blockquote"})
"""Elements inside which a ``<header>`` belongs to the content (an article's title)."""

BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "aside", "header", "footer", "body", "html",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote",
    "pre", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "figure",
    "figcaption", "hr", "address", "center", "details", "summary", "hgroup", "fieldset",
    "legend", "colgroup", "col",
})  # fmt: skip
"""Elements that start a block of their own; every other element is inline text."""

_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)", re.I)
_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.I)
_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE\b[^>\[]*\[", re.I)
_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
    re.I,
)
_SPACE = re.compile(r"[ \t\n\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INLINE_ESCAPE = re.compile(r"([\\*_\[\]~|])")
_TAG_LIKE = re.compile(r"<(?=[A-Za-z/!?])")
_LINE_START_ESCAPE = re.compile(r"^(?:[#>+=-]|\d{1,9}(?=[.)](?:\s|$)))")
_NOTE_MARK = re.compile(r"^\W{0,2}(?:\d{1,4}|[a-z]|[ivxlc]{1,6}|[*†‡§¶]+)\W{0,2}$", re.I)
_SNIFF_BYTES = 4096


def read_html(
    stream: BinaryIO,
    name: str,
    *,
    extract: bool = True,
    skip_notes: bool = False,
    max_bytes: int = MAX_INPUT_BYTES,
) -> Document:
    """Read an HTML or XHTML page from *stream* as a :class:`~narrator.books.Document`.

    *name* is how messages name the input.  With *extract*, only the page's main text
    (the article) is read; *skip_notes* leaves footnotes and endnotes out.  Raises
    :class:`~narrator.errors.InputError` for a page over *max_bytes*, a page that
    declares XML entities, and a page with no text.
    """
    text = _decode(_read_capped(stream, name, max_bytes))
    if _DOCTYPE_SUBSET.search(text) and _ENTITY_DECLARATION.search(text):
        raise InputError(
            f"{name}: declares its own XML entities (<!ENTITY ...> in its DOCTYPE), which "
            'narrator does not expand: they can grow to gigabytes ("billion laughs") or '
            "read other files; remove the declarations to read the page"
        )
    if not text.strip():
        raise InputError(f"{name}: is empty; there is nothing to narrate")
    root = _parse(text, name)
    meta = _metadata(root)
    clean(root, skip_notes=skip_notes)
    body = root
    if extract:
        article = _extract(root)
        if article is None:
            logger.warning("%s: found no article in the page; reading all of its text", name)
        else:
            body = article
    document = to_markdown(body, skip_notes=skip_notes)
    if not document.text.strip():
        raise InputError(f"{name}: has no text to read (no paragraphs, headings or lists)")
    document.title = meta.title or next((c.title for c in document.chapters if c.title), None)
    document.authors = meta.authors
    document.language = meta.language
    document.format = "html"
    return document


def _read_capped(stream: BinaryIO, name: str, max_bytes: int) -> bytes:
    """All of *stream*, refusing more than *max_bytes*."""
    try:
        data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise InputError(
            f"{name}: is larger than {max_bytes:,} bytes; if it really is a page to "
            f"narrate, raise the limit with --max-input-size (or {MAX_INPUT_ENV})"
        )
    return data


def _decode(data: bytes) -> str:
    """The page's text: its byte-order mark, else its declared charset, else UTF-8,
    else Windows-1252 (what browsers assume for an undeclared legacy page)."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    declared = _CHARSET.search(data[:_SNIFF_BYTES])
    if declared:
        label = (declared.group(1) or declared.group(2)).decode("ascii").lower()
        try:
            codec = codecs.lookup(label).name
        except LookupError:
            codec = "utf-8"
        if codec not in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):  # a lie in 8-bit bytes
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _parse(text: str, name: str) -> HtmlElement:
    """The page as an lxml HTML tree, namespaces dropped.

    XHTML (an XML declaration or the XHTML namespace) is parsed as XML first, so that
    ``<script/>`` and other self-closed elements close; then written out and read as
    HTML, the one tree shape the rest of the reader (and trafilatura) knows.
    """
    import lxml.etree as etree
    import lxml.html

    head = text[:_SNIFF_BYTES].lstrip("\ufeff \t\r\n")
    if head.startswith("<?xml") or XHTML_NAMESPACE in head:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            remove_comments=True, remove_pis=True,
        )  # fmt: skip
        try:
            tree = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text).encode(), parser)
        except etree.XMLSyntaxError:
            tree = None  # not well-formed after all: read it as HTML, as browsers would
        if tree is not None:
            _plain_names(tree)
            text = etree.tostring(tree, method="html", encoding="unicode")
    parser = lxml.html.HTMLParser(
        remove_comments=True, remove_pis=True, no_network=True, huge_tree=False
    )
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise InputError(f"{name}: is not a readable HTML page ({exc})") from None
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        # libxml2 stops at its limits (elements nested 256 deep) and drops the rest.
        raise InputError(
            f"{name}: goes beyond the HTML parser's limits (elements nested more than 256 "
            "deep); it is not a page narrator can read"
        )
    return root


def _plain_names(tree: object) -> None:
    """Drop namespaces from element names, and from attribute names (``epub:type``
    becomes ``epub-type``, ``xml:lang`` ``xml-lang``); entity references left
    unexpanded (``&nbsp;`` without its DTD) become the characters HTML names them for."""
    import lxml.etree as etree

    for element in list(tree.iter()):  # type: ignore[attr-defined]
        if isinstance(element, etree._Entity):
            char = html_module.unescape(f"&{element.name};")
            parent = element.getparent()
            if parent is not None:
                _replace_with_text(element, "" if char.startswith("&") else char)
            continue
        if not isinstance(element.tag, str):
            continue
        element.tag = etree.QName(element).localname
        for key in list(element.attrib):
            if key.startswith("{"):
                namespace, _, local = key[1:].partition("}")
                value = element.attrib.pop(key)
                prefix = "epub-" if "idpf.org" in namespace else ""
                prefix = "xml-" if "XML/1998" in namespace else prefix
                element.attrib[prefix + local] = value
    etree.cleanup_namespaces(tree)


def _replace_with_text(element: object, text: str) -> None:
    """Remove *element* from its tree, keeping its tail, with *text* in its place."""
    parent = element.getparent()  # type: ignore[attr-defined]
    previous = element.getprevious()  # type: ignore[attr-defined]
    joined = text + (element.tail or "")  # type: ignore[attr-defined]
    if previous is not None:
        previous.tail = (previous.tail or "") + joined
    else:
        parent.text = (parent.text or "") + joined
    parent.remove(element)


@dataclass
class _Meta:
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None


def _metadata(root: HtmlElement) -> _Meta:
    """Title, authors and language from the page's own metadata."""
    meta = _Meta()
    named: dict[str, list[str]] = {}
    for element in root.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = _SPACE.sub(" ", element.get("content") or "").strip()
        if key and content:
            named.setdefault(key, []).append(content)
        equiv = (element.get("http-equiv") or "").strip().lower()
        if equiv == "content-language" and content:
            named.setdefault("content-language", []).append(content)
    titles = root.xpath("//title")
    page_title = _SPACE.sub(" ", titles[0].text_content()).strip() if titles else ""
    meta.title = next(iter(named.get("og:title", []) + named.get("dc.title", [])), None) or (
        page_title or None
    )
    for key in ("author", "article:author", "dc.creator", "citation_author", "book:author"):
        for value in named.get(key, []):
            if value not in meta.authors and not value.startswith(("http://", "https://")):
                meta.authors.append(value)
    language = (
        root.get("lang")
        or root.get("xml-lang")
        or next(iter(named.get("content-language", [])), None)
        or next(iter(named.get("og:locale", [])), None)
    )
    if language:
        language = language.strip().replace("_", "-").split(",")[0].strip()
        meta.language = language or None
    return meta


def _hidden(element: HtmlElement) -> bool:
    if element.get("hidden") is not None:
        return True
    if (element.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(element.get("style") or ""))


def _roles(element: HtmlElement) -> set[str]:
    values = " ".join(element.get(key) or "" for key in ("role", "epub-type", "epub:type"))
    return set(values.lower().split())


def _is_note_reference(element: HtmlElement) -> bool:
    """A note's mark in the text: a noteref, or a superscript (or a link inside one)
    that links within the book to a note and shows only a number or a symbol."""
    if {"noteref", "doc-noteref"} & _roles(element):
        return True
    if element.tag not in ("sup", "a"):
        return False
    link = element if element.tag == "a" else next(iter(element.iter("a")), None)
    if link is None:
        return False
    in_sup = element.tag == "sup" or any(a.tag == "sup" for a in element.iterancestors())
    href = link.get("href") or ""
    return in_sup and "#" in href and bool(_NOTE_MARK.match(element.text_content().strip()))


def _page_header_or_footer(element: HtmlElement) -> bool:
    """A ``<header>`` or ``<footer>`` of the page, not of an article or section in it."""
    if element.tag == "footer":
        return True
    return element.tag == "header" and not any(a.tag in SECTIONING for a in element.iterancestors())


def clean(root: HtmlElement, *, skip_notes: bool = False) -> None:
    """Remove from *root*, in place, everything that is not read (see the module's notes)."""
    doomed = []
    for element in root.iter():
        if not isinstance(element.tag, str):  # comments, processing instructions
            doomed.append(element)
            continue
        roles = _roles(element)
        if (
            element.tag in SKIPPED_TAGS
            or roles & SKIPPED_ROLES
            or _hidden(element)
            or _page_header_or_footer(element)
            or _is_note_reference(element)
            or (skip_notes and roles & NOTE_TYPES)
        ):
            doomed.append(element)
    for element in doomed:
        if element.getparent() is not None and not any(
            a in doomed for a in element.iterancestors()
        ):
            _replace_with_text(element, "")


def _extract(root: HtmlElement) -> HtmlElement | None:
    """The page's main text, found by trafilatura, as an HTML tree; None if it found none."""
    import lxml.html
    import trafilatura

    extracted = trafilatura.extract(
        copy.deepcopy(root), output_format="html", include_formatting=True, include_tables=True,
        include_comments=False, include_images=False, include_links=False, deduplicate=False,
    )  # fmt: skip
    if not extracted or not extracted.strip():
        return None
    article = lxml.html.document_fromstring(extracted)
    if len(article.text_content().split()) >= len(root.text_content().split()):
        # It left out nothing: the page itself keeps its structure better (trafilatura's
        # fallback for a short page can run a heading into the paragraph after it).
        return root
    return article


# --- HTML tree -> Markdown ---------------------------------------------------------------


def escape(text: str) -> str:
    """*text* made safe to stand in a line of Markdown: what the front end would take for
    markup (emphasis, links, tags, a heading or list marker at the line start) is read
    as written."""
    text = _INLINE_ESCAPE.sub(r"\\\1", text.replace("`", "'"))
    text = _TAG_LIKE.sub("< ", text)  # a "<b>" in the text is not a tag to drop
    start = _LINE_START_ESCAPE.match(text)
    if start is None:
        return text
    at = start.end() if start.group().isdigit() else 0  # "1\. Not a list", "\# Not a heading"
    return text[:at] + "\\" + text[at:]


class _Writer:
    """Walks a tree and writes its blocks as Markdown lines, with their places."""

    def __init__(self, skip_notes: bool) -> None:
        self.skip_notes = skip_notes
        self.lines: list[str] = []
        self.places: list[tuple[int, str]] = []
        self.headings: list[tuple[int, str, int]] = []  # (level, title, line)
        self.paragraphs = 0
        self.last_item = False
        self.inline: list[str] = []  # the current block's text, "\n" where a <br> stood

    # Blocks.
    def block(self, text: str, *, prefix: str = "", heading: int = 0, item: bool = False) -> None:
        lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            return
        if self.lines and not (item and self.last_item):
            self.lines.append("")  # (the items of a list stand on consecutive lines)
        self.last_item = item
        first = len(self.lines) + 1
        if heading:
            title = " ".join(lines)
            self.lines.append("#" * heading + " " + escape(title))
            self.headings.append((heading, title, first))
            self.places.append((first, f"heading {len(self.headings)}"))
            return
        self.paragraphs += 1
        self.places.append((first, f"paragraph {self.paragraphs}"))
        for number, line in enumerate(lines):
            lead = prefix if number == 0 else " " * len(prefix) if prefix.strip() != ">" else prefix
            self.lines.append(lead + escape(line))

    def flush(self, prefix: str = "") -> None:
        if self.inline:
            text, self.inline = "".join(self.inline), []
            self.block(text, prefix=prefix)

    def scene(self) -> None:
        self.flush()
        self.last_item = False
        if self.lines:
            self.lines.append("")
        self.lines.append("* * *")

    # The walk.
    def walk(self, element: HtmlElement, prefix: str = "") -> None:
        """Write *element*'s children: inline ones into the current block, block ones as
        blocks of their own."""
        if element.text:
            self.inline.append(element.text)
        for child in element:
            if isinstance(child.tag, str):
                self.element(child, prefix)
            if child.tail:
                self.inline.append(child.tail)

    def element(self, element: HtmlElement, prefix: str) -> None:
        tag = element.tag
        if tag == "br":
            self.inline.append("\n")
            return
        if tag not in BLOCK_TAGS:
            self.walk(element, prefix)
            return
        self.flush(prefix)
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.block(_text(element), heading=int(tag[1]))
        elif tag == "hr":
            self.scene()
        elif tag in ("ul", "ol"):
            self.last_item = False  # (a list of its own, apart from one just before)
            self.list(element, prefix)
        elif tag == "blockquote":
            inner = prefix if prefix.startswith(">") else "> "
            self.walk(element, inner)
            self.flush(inner)
        elif tag == "table":
            self.last_item = False
            self.table(element, prefix)
        elif tag == "pre":
            self.block(element.text_content(), prefix=prefix)
        else:
            self.walk(element, prefix)
        self.flush(prefix)

    def list(self, element: HtmlElement, prefix: str, depth: int = 0) -> None:
        """A list's items, one a line; a nested list's items indented under their item."""
        ordered = element.tag == "ol"
        try:
            number = int(element.get("start") or 1)
        except ValueError:
            number = 1
        quote = prefix if prefix.startswith(">") else ""
        for item in element:
            if not isinstance(item.tag, str):
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            nested = [c for c in item if isinstance(c.tag, str) and c.tag in ("ul", "ol")]
            for child in nested:
                item.remove(child)
            text = _text(item)
            if text:
                self.block(text, prefix=quote + "  " * depth + marker, item=True)
            for child in nested:
                self.list(child, quote, depth + 1)

    def table(self, element: HtmlElement, prefix: str) -> None:
        """A table, row by row: each row one item, its cells named after the column headers."""
        for caption in element.iter("caption"):
            self.block(_text(caption), prefix=prefix)
        headers: list[str] = []
        quote = prefix if prefix.startswith(">") else ""
        for row in element.iter("tr"):
            cells = [c for c in row if isinstance(c.tag, str) and c.tag in ("td", "th")]
            texts = [_text(c) for c in cells]
            if cells and all(c.tag == "th" for c in cells) and not headers:
                headers = texts
                continue
            parts = []
            for index, text in enumerate(texts):
                if not text:
                    continue
                header = headers[index] if index < len(headers) else ""
                parts.append(f"{header}: {text}" if header and header != text else text)
            if parts:
                self.block("; ".join(parts), prefix=quote + "- ", item=True)


def _text(element: HtmlElement) -> str:
    """The text of *element*, all on one line (a ``<br>`` in it a space)."""
    for br in element.iter("br"):
        br.tail = " " + (br.tail or "")
    return _SPACE.sub(" ", element.text_content()).strip()


def to_markdown(root: HtmlElement, *, skip_notes: bool = False) -> Document:
    """The Markdown of a cleaned HTML tree (see :func:`clean`), with its places and its
    top-level headings as chapters."""
    from . import Chapter, Document

    writer = _Writer(skip_notes)
    body = root.find("body") if root.tag == "html" else None
    writer.walk(body if body is not None else root)
    writer.flush()
    text = "\n".join(writer.lines) + "\n" if writer.lines else ""
    chapters = []
    if writer.headings:
        top = min(level for level, _, _ in writer.headings)
        chapters = [
            Chapter(title, line, f"heading {number}")
            for number, (level, title, line) in enumerate(writer.headings, 1)
            if level == top
        ]
    return Document(text, chapters=chapters, places=writer.places, format="html")
