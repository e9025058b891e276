"""EPUBs for the tests and the benchmark, made by two independent producers (ebooklib and
pandoc) and, for the hostile ones, written member by member with zipfile."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path


def png(width: int = 4, height: int = 6, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small solid-colour PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


# The chapter bodies: every word here must be spoken, and nothing else but the titles.
ONE_BODY = "The keeper climbed the stairs at dusk. The harbour light was his to tend."
ONE_NOTE = "Keepers counted the stairs every night."
ONE_MORE = "He trimmed the wick and watched the sea."
INTERLUDE = "Nobody spoke on the ferry that morning. Gulls followed the wake for an hour."
THREE_BODY = "The glass fell all afternoon."
STORM_BODY = "Then the storm came in from the west, and the lamp held."
APPENDIX = "Secret answers that only the appendix holds."
TITLES = ["Chapter One", "Interlude at Sea", "Chapter Three", "The Storm"]
BODIES = [ONE_BODY, ONE_MORE, INTERLUDE, THREE_BODY, STORM_BODY]


def ebooklib_epub(path: Path, *, language: str = "en", ncx_only: bool = False) -> Path:
    """An EPUB 3 by ebooklib: a cover, a footnote (noteref and aside), a page break, an
    image, a chapter without a heading, a nested TOC, and a non-linear appendix.  With
    *ncx_only*, no navigation document: the EPUB 2 NCX is the table of contents."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("lighthouse-test")
    book.set_title("The Lighthouse Keeper")
    book.set_language(language)
    book.add_author("Mara Quill")
    book.add_author("Tom Reed")
    book.set_cover("cover.png", png())
    one = epub.EpubHtml(title="Chapter One", file_name="c1.xhtml", lang=language)
    one.content = (
        "<h1>Chapter One</h1>"
        f'<p>{ONE_BODY[:38]}<a epub:type="noteref" href="#n1">1</a>{ONE_BODY[38:]}</p>'
        '<span epub:type="pagebreak" id="page2" title="2">2</span>'
        f'<p><img src="cover.png" alt="A drawing of the lamp"/>{ONE_MORE}</p>'
        f'<aside epub:type="footnote" id="n1"><p>{ONE_NOTE}</p></aside>'
    )
    two = epub.EpubHtml(title="Interlude at Sea", file_name="c2.xhtml", lang=language)
    two.content = f"<p>{INTERLUDE}</p>"
    three = epub.EpubHtml(title="Chapter Three", file_name="c3.xhtml", lang=language)
    three.content = (
        f'<h1>Chapter Three</h1><p>{THREE_BODY}</p><h2 id="storm">The Storm</h2><p>{STORM_BODY}</p>'
    )
    appendix = epub.EpubHtml(title="Appendix", file_name="appendix.xhtml", lang=language)
    appendix.content = f"<h1>Appendix</h1><p>{APPENDIX}</p>"
    for item in (one, two, three, appendix):
        book.add_item(item)
    book.toc = [
        epub.Link("c1.xhtml", "Chapter One", "c1"),
        epub.Link("c2.xhtml", "Interlude at Sea", "c2"),
        (epub.Section("Chapter Three", href="c3.xhtml"),
         [epub.Link("c3.xhtml#storm", "The Storm", "storm")]),
    ]  # fmt: skip
    book.add_item(epub.EpubNcx())
    spine: list[object] = [one, two, three, (appendix.id, "no")]
    if not ncx_only:
        book.add_item(epub.EpubNav())
        spine.insert(0, "nav")
    book.spine = spine
    epub.write_epub(str(path), book)
    return path


PANDOC_MARKDOWN = f"""\
---
title: The Lighthouse Keeper
author: Mara Quill
lang: en
---

# Chapter One

{ONE_BODY[:38]}[^1]{ONE_BODY[38:]}

{ONE_MORE}

# Interlude at Sea

{INTERLUDE}

# Chapter Three

{THREE_BODY}

## The Storm

{STORM_BODY}

[^1]: {ONE_NOTE}
"""


def pandoc_epub(path: Path, version: int, cover: Path) -> Path:
    """The same book by pandoc (EPUB 2 or 3), with a cover and an end note."""
    import pypandoc

    source = path.with_suffix(".md")
    source.write_text(PANDOC_MARKDOWN)
    pypandoc.convert_file(
        str(source), f"epub{version}", outputfile=str(path),
        extra_args=[f"--epub-cover-image={cover}", "--split-level=1"],
    )  # fmt: skip
    return path


CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OPS/package.opf" media-type="application/oebps-package+xml"/>
</rootfiles></container>"""

PACKAGE = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>
<dc:title>{title}</dc:title><dc:language>{language}</dc:language></metadata>
<manifest>{items}</manifest><spine>{spine}</spine></package>"""

CHAPTER = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>c</title></head><body>{body}</body></html>"""


def plain_epub(
    path: Path,
    chapters: list[str],
    *,
    title: str = "Plain",
    language: str = "en",
    extra: dict[str, bytes] | None = None,
    raw_chapters: list[bytes] | None = None,
) -> Path:
    """An EPUB 3 written member by member: *chapters* are XHTML bodies (no TOC: the
    headings are the chapters); *raw_chapters* whole chapter files; *extra* more members."""
    files = raw_chapters or [CHAPTER.format(body=body).encode() for body in chapters]
    items = "".join(
        f'<item id="c{n}" href="c{n}.xhtml" media-type="application/xhtml+xml"/>'
        for n in range(len(files))
    )
    spine = "".join(f'<itemref idref="c{n}"/>' for n in range(len(files)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        out.writestr("META-INF/container.xml", CONTAINER)
        out.writestr("OPS/package.opf", PACKAGE.format(title=title, language=language,
                                                       items=items, spine=spine))  # fmt: skip
        for number, data in enumerate(files):
            out.writestr(f"OPS/c{number}.xhtml", data)
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return path
