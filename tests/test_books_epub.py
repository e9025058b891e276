"""EPUB input (issue 13): chapters, metadata, cover, notes, places, and hostile books.

The books are made by two independent producers (ebooklib, pandoc) and, for the hostile
ones, member by member; the narrations use the fake engine."""

from __future__ import annotations

import json
import logging
import re
import zipfile
from pathlib import Path

import mutagen
import pytest
from click.testing import CliRunner, Result

from narrator.books import load
from narrator.books.chapters import WORDS_PER_MINUTE
from narrator.books.epub import MAX_MEMBER_BYTES
from narrator.cli import cli
from narrator.tags import read_chapters
from narrator.text import prepare

from .epubs import (
    APPENDIX,
    BODIES,
    CHAPTER,
    INTERLUDE,
    ONE_NOTE,
    TITLES,
    ebooklib_epub,
    pandoc_epub,
    plain_epub,
    png,
)
from .fake_engine import FakeEngine

ERROR = re.compile(r"^narrator: error: [^\n]+\n$")


def invoke(args: list[str], **kwargs) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("books")
    cover = folder / "cover.png"
    cover.write_bytes(png())
    return {
        "ebooklib-epub3": ebooklib_epub(folder / "ebooklib3.epub"),
        "ebooklib-ncx": ebooklib_epub(folder / "ebooklib-ncx.epub", ncx_only=True),
        "pandoc-epub3": pandoc_epub(folder / "pandoc3.epub", 3, cover),
        "pandoc-epub2": pandoc_epub(folder / "pandoc2.epub", 2, cover),
    }


PRODUCERS = ["ebooklib-epub3", "ebooklib-ncx", "pandoc-epub3", "pandoc-epub2"]


def spoken(calls: list[str]) -> str:
    return " ".join(calls)


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


@pytest.mark.parametrize("producer", PRODUCERS)
def test_the_book_reads_in_spine_order_with_every_word(books: dict[str, Path], producer: str):
    document = load(books[producer])
    assert document.format == "epub"
    assert document.title == "The Lighthouse Keeper"
    assert document.authors[0] == "Mara Quill"
    assert document.language == "en"
    assert document.cover == png() and document.cover_type == "image/png"
    assert [c.title for c in document.chapters][-4:] == TITLES
    script = prepare(document.text)
    said = " ".join(s.text for s in script.segments)
    assert script.omissions == []  # the audit: every word of the text is spoken
    body = words(said)
    joined = " ".join(body)
    for text in BODIES + [ONE_NOTE]:
        assert " ".join(words(text)) in joined, text
    # In order, each chapter title once; the note's mark (1) is not read, the note is.
    positions = [joined.index(" ".join(words(t))) for t in TITLES]
    assert positions == sorted(positions)
    assert "tend 1" not in joined and "dusk 1" not in joined
    assert "1" not in body
    assert APPENDIX.lower().split()[0] not in body  # the non-linear item
    assert "drawing" not in body  # an image's alt text
    assert joined.count("chapter one") == 1  # the navigation document is not read


def test_a_chapter_without_a_heading_speaks_its_toc_title(books: dict[str, Path]):
    document = load(books["ebooklib-epub3"])
    assert "# Interlude at Sea\n\n" + INTERLUDE in document.text


@pytest.mark.parametrize("producer", PRODUCERS)
def test_skip_notes_leaves_the_note_out(books: dict[str, Path], producer: str):
    document = load(books[producer], skip_notes=True)
    assert "Keepers counted" not in document.text
    assert "harbour light" in document.text


def test_places_point_into_the_chapter_files(books: dict[str, Path]):
    document = load(books["ebooklib-epub3"])
    line = next(n for n, text in enumerate(document.text.split("\n"), 1) if "ferry" in text)
    assert document.place(line) == "c2.xhtml, paragraph 2"  # after its spoken TOC title
    assert [c.place for c in document.chapters] == ["c1.xhtml", "c2.xhtml", "c3.xhtml",
                                                    "c3.xhtml"]  # fmt: skip


@pytest.mark.parametrize("suffix", ["m4b", "mp3"])
@pytest.mark.parametrize("producer", ["ebooklib-epub3", "pandoc-epub2"])
def test_chapters_tags_and_cover_in_the_audiobook(
    books: dict[str, Path], producer: str, suffix: str, fake_voice: str, tmp_path: Path
):
    out = tmp_path / f"book.{suffix}"
    result = invoke(["read", str(books[producer]), "-o", str(out), "-v", fake_voice, "-q"])
    assert result.exit_code == 0, result.output
    titles = [title for title, _, _ in read_chapters(out)]
    # pandoc's title page is no TOC entry of EPUB 3, but its NCX names it in EPUB 2.
    assert titles[-4:] == TITLES
    assert len(titles) <= 5
    audio = mutagen.File(out)
    if suffix == "m4b":
        assert audio.tags["©nam"] == ["The Lighthouse Keeper"]
        assert audio.tags["aART"][0].startswith("Mara Quill")
        assert bytes(audio.tags["covr"][0]) == png()
    else:
        assert str(audio.tags["TIT2"]) == "The Lighthouse Keeper"
        assert str(audio.tags["TCOM"]).startswith("Mara Quill")
        assert audio.tags.getall("APIC")[0].data == png()
    calls = spoken(FakeEngine.calls)
    assert "Interlude at Sea" in calls
    assert "Secret answers" not in calls


@pytest.mark.parametrize("suffix", ["flac", "ogg", "opus"])
def test_the_cover_as_a_picture_in_flac_and_ogg(
    books: dict[str, Path], suffix: str, fake_voice: str, tmp_path: Path
):
    out = tmp_path / f"book.{suffix}"
    result = invoke(["read", str(books["ebooklib-epub3"]), "-o", str(out), "-v", fake_voice,
                     "-q", "--chapters", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    audio = mutagen.File(out)
    if suffix == "flac":
        pictures = audio.pictures
    else:
        import base64

        from mutagen.flac import Picture

        pictures = [Picture(base64.b64decode(v)) for v in audio["METADATA_BLOCK_PICTURE"]]
    assert pictures[0].data == png() and pictures[0].mime == "image/png"
    assert pictures[0].type == 3


def test_title_author_and_cover_options_win(books: dict[str, Path], fake_voice: str,
                                            tmp_path: Path):  # fmt: skip
    other = tmp_path / "other.png"
    other.write_bytes(png(2, 2, (0, 0, 255)))
    out = tmp_path / "book.m4b"
    result = invoke(["read", str(books["ebooklib-epub3"]), "-o", str(out), "-v", fake_voice,
                     "-q", "--title", "Mine", "--author", "Me", "--cover", str(other),
                     "--chapters", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    tags = mutagen.File(out).tags
    assert tags["©nam"] == ["Mine"] and tags["aART"] == ["Me"]
    assert bytes(tags["covr"][0]) == other.read_bytes()


def test_cover_for_a_text_file(fake_voice: str, tmp_path: Path):
    story = tmp_path / "story.txt"
    story.write_text("The cat sat on the mat.\n")
    cover = tmp_path / "c.png"
    cover.write_bytes(png())
    out = tmp_path / "story.mp3"
    assert invoke(["read", str(story), "-o", str(out), "-v", fake_voice, "-q",
                   "--cover", str(cover)]).exit_code == 0  # fmt: skip
    assert mutagen.File(out).tags.getall("APIC")[0].data == png()


def test_a_cover_that_is_no_image_is_one_error(fake_voice: str, tmp_path: Path):
    story = tmp_path / "story.txt"
    story.write_text("The cat sat on the mat.\n")
    bad = tmp_path / "cover.png"
    bad.write_text("not an image")
    out = tmp_path / "story.mp3"
    result = invoke(["read", str(story), "-o", str(out), "-v", fake_voice, "--cover", str(bad)])
    assert result.exit_code == 2
    assert result.output == f"narrator: error: --cover {bad}: is not a JPEG or PNG image\n"
    assert not out.exists()


def test_chapters_selection(books: dict[str, Path], fake_voice: str, tmp_path: Path):
    out = tmp_path / "part.mp3"
    result = invoke(["read", str(books["ebooklib-epub3"]), "-o", str(out), "-v", fake_voice,
                     "-q", "--chapters", "2-3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [t for t, _, _ in read_chapters(out)] == ["Interlude at Sea", "Chapter Three",
                                                     "The Storm"][:2]  # fmt: skip
    calls = spoken(FakeEngine.calls)
    assert "Nobody spoke" in calls and "glass fell" in calls
    assert "keeper climbed" not in calls and "storm came" not in calls


@pytest.mark.parametrize("spec", ["9", "2-x", "3-1"])
def test_a_bad_chapter_selection_is_one_error(books: dict[str, Path], fake_voice: str,
                                              tmp_path: Path, spec: str):  # fmt: skip
    out = tmp_path / "part.mp3"
    result = invoke(["read", str(books["ebooklib-epub3"]), "-o", str(out), "-v", fake_voice,
                     "--chapters", spec])  # fmt: skip
    assert result.exit_code == 2
    assert ERROR.match(result.output), result.output
    assert "--chapters" in result.output
    assert not out.exists()


def test_chapters_command_lists_number_title_words_minutes(books: dict[str, Path]):
    result = invoke(["chapters", str(books["ebooklib-epub3"]), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [c["number"] for c in listed] == [1, 2, 3, 4]
    assert [c["title"] for c in listed] == TITLES
    assert listed[1]["words"] == len(words("Interlude at Sea " + INTERLUDE))
    pace = WORDS_PER_MINUTE["hibari"]  # heart, the default voice
    assert listed[1]["minutes"] == round(listed[1]["words"] / pace, 1)
    slower = json.loads(invoke(["chapters", str(books["ebooklib-epub3"]), "--json",
                                "--speed", "0.5"]).output)  # fmt: skip
    assert slower[1]["minutes"] == round(listed[1]["words"] / (pace * 0.5), 1)
    plain = invoke(["chapters", str(books["pandoc-epub3"])])
    lines = plain.output.splitlines()
    assert lines[0].split()[0] == "0"  # the title page, before the first chapter
    assert "Interlude at Sea" in lines[2] and lines[2].rstrip().endswith("min")


def test_chapters_command_for_markdown(tmp_path: Path):
    story = tmp_path / "story.md"
    story.write_text("Before.\n\n# One\n\nA b c.\n\n# Two\n\nD e.\n")
    listed = json.loads(invoke(["chapters", str(story), "--json"]).output)
    assert [(c["number"], c["title"], c["words"]) for c in listed] == [
        (0, "(before the first chapter)", 1), (1, "One", 4), (2, "Two", 3)]  # fmt: skip


def test_split_shows_places(books: dict[str, Path]):
    result = invoke(["split", str(books["ebooklib-epub3"]), "--json"])
    assert result.exit_code == 0, result.output
    segments = json.loads(result.output)
    ferry = next(s for s in segments if "ferry" in s["text"])
    assert ferry["place"] == "c2.xhtml, paragraph 2"
    plain = invoke(["split", str(books["ebooklib-epub3"]), "--places"]).output.splitlines()
    assert "c2.xhtml, paragraph 2\tNobody spoke on the ferry that morning." in plain
    assert "Nobody spoke on the ferry that morning." in invoke(
        ["split", str(books["ebooklib-epub3"])]).output.splitlines()  # fmt: skip


def test_the_audit_names_the_place_of_what_is_not_spoken(tmp_path: Path):
    book = plain_epub(tmp_path / "b.epub", ["<h1>One</h1><p>Fine.</p><p>A smile 🙂 here.</p>"])
    result = invoke(["split", str(book), "--verbose"])
    assert result.exit_code == 0
    assert "(c0.xhtml, paragraph 3)" in result.output
    assert "unspeakable text at line 5" in result.output


def test_the_book_language_chooses_the_reading_and_warns_once(tmp_path: Path, caplog):
    book = plain_epub(tmp_path / "de.epub", ["<h1>Eins</h1><p>Es gibt 3 Äpfel.</p>"],
                      language="de")  # fmt: skip
    with caplog.at_level(logging.WARNING):
        result = invoke(["split", str(book), "--json", "-v", "joe"])
    assert result.exit_code == 0, result.output
    texts = [s["text"] for s in json.loads(result.output.split("\n", 1)[-1]
                                           if not result.output.startswith("[")
                                           else result.output)]  # fmt: skip
    assert any("drei" in t for t in texts), texts
    warnings = [line for line in result.output.splitlines() if "WARNING" in line]
    warnings += [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    mismatch = [w for w in warnings if "the book is in" in w]
    assert len(set(mismatch)) == 1 and "(de)" in mismatch[0] and "en_US" in mismatch[0]


def test_stdin_needs_the_input_format(books: dict[str, Path], fake_voice: str, tmp_path: Path):
    data = books["ebooklib-epub3"].read_bytes()
    out = tmp_path / "book.mp3"
    result = invoke(["read", "-", "-o", str(out), "-v", fake_voice, "-q", "--input-format",
                     "epub"], input=data)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [t for t, _, _ in read_chapters(out)] == TITLES
    refused = invoke(["read", "-", "-o", str(tmp_path / "x.mp3"), "-v", fake_voice], input=data)
    assert refused.exit_code == 2 and ERROR.match(refused.output)
    assert "binary" in refused.output


def test_an_unknown_input_format_is_one_error(books: dict[str, Path], tmp_path: Path):
    out = tmp_path / "x.mp3"
    result = invoke(["read", str(books["ebooklib-epub3"]), "-o", str(out), "--input-format",
                     "docx"])  # fmt: skip
    assert result.exit_code == 2
    assert result.output == (
        "narrator: error: unknown input format 'docx'; choose one of text, markdown, html, "
        "epub, pdf\n"
    )
    assert invoke(["split", "x.txt", "--input-format", "rtf"]).exit_code == 2


def test_the_suffix_chooses_the_format_and_markdown_escapes_hold(tmp_path: Path):
    body = ("<h1>Odd</h1><p># not a heading</p><p>1. not a list</p><p>- not an item</p>"
            "<p>*not emphasis* and [not a link](x)</p><p>* * *</p>")  # fmt: skip
    document = load(plain_epub(tmp_path / "odd.epub", [body]))
    script = prepare(document.text)
    said = [s.text for s in script.segments]
    assert said == ["Odd.", "Not a heading.", "One. not a list.", "- not an item.",
                    "Not emphasis and [not a link](x)."]  # fmt: skip
    assert [s.kind.value for s in script.segments].count("heading") == 1
    assert document.text.endswith("\n\n* * *\n")  # a scene break stays one


# --- Hostile books: each one line, exit 2, nothing written --------------------------------


def refused(book: Path, tmp_path: Path, fake_voice: str) -> str:
    out = tmp_path / "out.mp3"
    result = invoke(["read", str(book), "-o", str(out), "-v", fake_voice])
    assert result.exit_code == 2, result.output
    assert ERROR.match(result.output), result.output
    assert not out.exists()
    assert list(tmp_path.glob("*.mp3*")) == []
    return result.output


def test_a_zip_bomb_member_is_refused(tmp_path: Path, fake_voice: str):
    book = plain_epub(tmp_path / "bomb.epub", [], raw_chapters=[
        CHAPTER.format(body="<p>" + "a" * (MAX_MEMBER_BYTES + 10) + "</p>").encode()])  # fmt: skip
    assert book.stat().st_size < 1_000_000
    message = refused(book, tmp_path, fake_voice)
    assert "would unpack to more than 32 MiB" in message and "zip bomb" in message


def test_a_zip_bomb_that_lies_about_its_size_is_cut_off(tmp_path: Path, fake_voice: str):
    book = plain_epub(tmp_path / "liar.epub", [], raw_chapters=[
        CHAPTER.format(body="<p>" + "a" * (MAX_MEMBER_BYTES + 10) + "</p>").encode()])  # fmt: skip
    # Rewrite the sizes the zip declares (local header and central directory) to 1000.
    data = bytearray(book.read_bytes())
    with zipfile.ZipFile(book) as z:
        info = z.getinfo("OPS/c0.xhtml")
    real = info.file_size.to_bytes(4, "little")
    assert data.count(real) == 2
    data = data.replace(real, (1000).to_bytes(4, "little"))
    book.write_bytes(bytes(data))
    message = refused(book, tmp_path, fake_voice)
    assert "unpack" in message or "damaged" in message


def test_the_total_unpacked_size_is_capped(tmp_path: Path, fake_voice: str):
    chapters = [f"<h1>Part {n}</h1><p>{'word ' * 3000}</p>" for n in range(10)]
    book = plain_epub(tmp_path / "big.epub", chapters)
    out = tmp_path / "out.mp3"
    result = invoke(["read", str(book), "-o", str(out), "-v", fake_voice,
                     "--max-input-size", "64K"])  # fmt: skip
    assert result.exit_code == 2
    assert "unpacks to more than 64 KiB in all" in result.output
    assert "--max-input-size" in result.output
    assert not out.exists()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE html [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><p>&lol3;</p></body></html>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE html [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><p>&secret;</p></body></html>"""


@pytest.mark.parametrize("chapter", [BILLION_LAUGHS, EXTERNAL], ids=["laughs", "external"])
def test_xml_entities_are_refused(tmp_path: Path, fake_voice: str, chapter: bytes):
    book = plain_epub(tmp_path / "ent.epub", [], raw_chapters=[chapter])
    message = refused(book, tmp_path, fake_voice)
    assert "c0.xhtml: declares XML entities" in message


ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
 xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>
<enc:EncryptionMethod Algorithm="{algorithm}"/>
<enc:CipherData><enc:CipherReference URI="OPS/c0.xhtml"/></enc:CipherData>
</enc:EncryptedData></encryption>"""


@pytest.mark.parametrize("member", ["encryption", "rights"])
def test_a_drm_book_says_it_is_encrypted(tmp_path: Path, fake_voice: str, member: str):
    extra = (
        {
            "META-INF/encryption.xml": ENCRYPTION.format(
                algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"
            ).encode()
        }  # fmt: skip
        if member == "encryption"
        else {"META-INF/rights.xml": b"<rights/>"}
    )
    book = plain_epub(tmp_path / "drm.epub", ["<p>x</p>"], extra=extra)
    message = refused(book, tmp_path, fake_voice)
    assert "is encrypted (DRM)" in message


def test_font_obfuscation_is_no_drm(tmp_path: Path):
    extra = {"META-INF/encryption.xml": ENCRYPTION.format(
        algorithm="http://www.idpf.org/2008/embedding").encode()}  # fmt: skip
    book = plain_epub(tmp_path / "fonts.epub", ["<h1>A</h1><p>Readable.</p>"], extra=extra)
    assert "Readable." in load(book).text


@pytest.mark.parametrize("damage", ["truncated", "not-a-zip", "no-container", "bad-xml"])
def test_a_damaged_book_is_one_error(tmp_path: Path, fake_voice: str, damage: str):
    book = plain_epub(tmp_path / "ok.epub", ["<h1>A</h1><p>" + "Text here. " * 500 + "</p>"])
    if damage == "truncated":
        data = book.read_bytes()
        book.write_bytes(data[: len(data) // 2])
    elif damage == "not-a-zip":
        book.write_text("just some text, not a zip")
    elif damage == "no-container":
        with zipfile.ZipFile(book, "w") as z:
            z.writestr("mimetype", "application/epub+zip")
    else:
        book = plain_epub(tmp_path / "bad.epub", [], raw_chapters=[b"<html><body><p>oops</body>"])
    message = refused(book, tmp_path, fake_voice)
    expected = {
        "truncated": "is not a readable EPUB",
        "not-a-zip": "is not a readable EPUB",
        "no-container": "is not an EPUB (no META-INF/container.xml",
        "bad-xml": "c0.xhtml: is not well-formed XML",
    }[damage]
    assert expected in message


def test_read_verbose_reports_the_place_of_what_is_not_spoken(tmp_path: Path, fake_voice: str):
    book = plain_epub(tmp_path / "b.epub", ["<h1>One</h1><p>Fine.</p><p>A smile 🙂 here.</p>"])
    out = tmp_path / "b.wav"
    result = invoke(["read", str(book), "-o", str(out), "-v", fake_voice, "--verbose"])
    assert result.exit_code == 0, result.output
    assert "unspeakable text at line 5, column 9 (c0.xhtml, paragraph 3): '🙂'" in result.output
    quiet = invoke(["read", str(book), "-o", str(tmp_path / "c.wav"), "-v", fake_voice])
    assert "c0.xhtml" not in quiet.output


def test_split_chapters_follow_the_table_of_contents(
    books: dict[str, Path], fake_voice: str, tmp_path: Path
):
    out = tmp_path / "book.mp3"
    result = invoke(["read", str(books["ebooklib-epub3"]), "-o", str(out), "-v", fake_voice,
                     "-q", "--split-chapters"])  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.glob("book-*.mp3"))
    assert names == ["book-01-Chapter-One.mp3", "book-02-Interlude-at-Sea.mp3",
                     "book-03-Chapter-Three.mp3", "book-04-The-Storm.mp3"]  # fmt: skip


def test_split_reads_only_the_chapters_asked(books: dict[str, Path]):
    result = invoke(["split", str(books["pandoc-epub3"]), "--chapters", "0,2"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "The Lighthouse Keeper.", "Mara Quill.", "Interlude at Sea.",
        "Nobody spoke on the ferry that morning.", "Gulls followed the wake for an hour.",
    ]  # fmt: skip


def test_voice_auto_follows_the_book_language(tmp_path: Path):
    book = plain_epub(tmp_path / "la.epub", ["<h1>One</h1><p>The keeper climbed the stairs.</p>"],
                      language="la")  # fmt: skip
    result = invoke(["split", str(book), "-v", "auto"])
    assert result.exit_code == 3
    assert ERROR.match(result.output) and "no voice preset speaks" in result.output
    assert "(la)" in result.output


def test_gutenberg_page_numbers_and_note_anchors_are_not_read(tmp_path: Path):
    body = (
        '<h1>One</h1><p>It rained<span class="pagenum"><a id="Page_12">[12]</a></span> all '
        'day.<a id="FNanchor_1" href="#Footnote_1" class="fnanchor">[1]</a></p><div '
        'class="footnote"><p><a id="Footnote_1" href="#FNanchor_1">[1]</a> Wet.</p></div>'
    )
    document = load(plain_epub(tmp_path / "pg.epub", [body]))
    assert document.text == "# One\n\nIt rained all day.\n\nWet.\n"
    assert load(tmp_path / "pg.epub", skip_notes=True).text == "# One\n\nIt rained all day.\n"


def test_elements_nested_without_end_are_one_error(tmp_path: Path, fake_voice: str):
    book = plain_epub(tmp_path / "deep.epub", ["<div>" * 50_000 + "x" + "</div>" * 50_000])
    assert "c0.xhtml nests its elements too deeply" in refused(book, tmp_path, fake_voice)
