"""The PDF reader: PDFs drawn here with reportlab, read back through narrator.books.load()."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from narrator import narrate
from narrator.books import load
from narrator.books.pdf import read_pdf
from narrator.errors import InputError

from .fake_engine import FakeEngine

pytest.importorskip("reportlab")
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.utils import ImageReader  # noqa: E402
from reportlab.pdfgen import canvas  # noqa: E402

WIDTH, HEIGHT = A4
LEFT, RIGHT = (60, 270), (310, 520)
"""The two columns' left edges (and the right edge of each) on the page."""

PAGES = [
    ("Chapter One", [
        ["The first column begins the story of the",
         "two rivers, which met at the old town",
         "where the mill stood. Everyone who came",
         "to see the narra-",
         "tion of its history stayed for the whole",
         "evening, and the river"],
        ["kept running under the bridge all night.",
         "The second column tells the well-",
         "known tale of the miller and his daughter,",
         "who kept the books."],
    ]),
    ("Chapter Two", [
        ["Spring came late that year, and the water",
         "rose over the banks of the western river",
         "until the fields were a sheet of light.",
         "    The flood lasted a week. Boats were",
         "rowed down the main street, and the baker",
         "sold bread from an upper window."],
        ["Nobody in the town remembered a flood",
         "like it, and the old men talked about it",
         "for years in the inn by the bridge. They",
         "called it the silver week, and its hyphen-",
         "ation in their songs was odd."],
    ]),
    (None, [
        ["The rebuilding took the whole summer.",
         "Carpenters came from the valley and",
         "stayed in tents beside the mill race."],
        ["When the work was done the town held a",
         "feast, and the miller's daughter read the",
         "names of all who helped with the hyphenation."],
    ]),
]  # fmt: skip
"""Each page: its chapter heading (an outline entry) or None, and its two columns' lines."""

EXPECTED = """\
# Chapter One

The first column begins the story of the two rivers, which met at the old town where \
the mill stood. Everyone who came to see the narration of its history stayed for the \
whole evening, and the river kept running under the bridge all night. The second column \
tells the well-known tale of the miller and his daughter, who kept the books.

# Chapter Two

Spring came late that year, and the water rose over the banks of the western river \
until the fields were a sheet of light.

The flood lasted a week. Boats were rowed down the main street, and the baker sold \
bread from an upper window.

Nobody in the town remembered a flood like it, and the old men talked about it for years \
in the inn by the bridge. They called it the silver week, and its hyphenation in their \
songs was odd.

The rebuilding took the whole summer. Carpenters came from the valley and stayed in \
tents beside the mill race.

When the work was done the town held a feast, and the miller's daughter read the names \
of all who helped with the hyphenation.
"""


def draw_book(pages: list = PAGES, **options: object) -> bytes:
    """A PDF of two-column pages with a running header (the book's title on the left,
    "A Novel" on the right), a page number at the foot, and an outline entry for
    each chapter heading."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, **options)
    pdf.setTitle("The Two Rivers")
    pdf.setAuthor("Jane Writer")
    for number, (heading, columns) in enumerate(pages, 1):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(60, HEIGHT - 40, "THE TWO RIVERS")
        pdf.drawRightString(520, HEIGHT - 40, "A Novel")
        pdf.drawCentredString(WIDTH / 2, 30, str(number))
        top = HEIGHT - 100
        if heading:
            pdf.setFont("Helvetica-Bold", 16)
            pdf.drawString(60, top, heading)
            pdf.bookmarkPage(f"page{number}")
            pdf.addOutlineEntry(heading, f"page{number}", level=0)
            top -= 40
        pdf.setFont("Helvetica", 10)
        for (x0, x1), lines in zip((LEFT, RIGHT), columns, strict=True):
            y = top
            for line in lines:
                assert pdf.stringWidth(line.strip()) < x1 - x0, line  # within its column
                indent = len(line) - len(line.lstrip())
                pdf.drawString(x0 + 5 * indent, y, line.strip())
                y -= 13
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "two-rivers.pdf"
    path.write_bytes(draw_book())
    return path


def test_columns_headers_page_numbers_hyphens_and_outline(book: Path) -> None:
    document = load(book)
    assert document.text == EXPECTED
    assert document.format == "pdf"
    assert document.title == "The Two Rivers"
    assert document.authors == ["Jane Writer"]
    assert [(c.title, c.line, c.place) for c in document.chapters] == [
        ("Chapter One", 1, "page 1"),
        ("Chapter Two", 5, "page 2"),
    ]
    lines = document.text.splitlines()
    assert lines[4] == "# Chapter Two"
    assert document.place(3) == "page 1"
    assert document.place(7) == "page 2"
    assert document.place(len(lines)) == "page 3"


def test_nested_outline_entries_are_subheadings(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for number, (title, level) in enumerate([("Part One", 0), ("The Mill", 1)], 1):
        pdf.setFont("Helvetica", 10)
        pdf.drawString(60, 700, f"Text of page {number} tells of {title.lower()} at length.")
        pdf.bookmarkPage(f"p{number}")
        pdf.addOutlineEntry(title, f"p{number}", level=level)
        pdf.showPage()
    pdf.save()
    path = tmp_path / "nested.pdf"
    path.write_bytes(buffer.getvalue())
    document = load(path)
    assert document.text == (
        "# Part One\n\nText of page 1 tells of part one at length.\n\n"
        "## The Mill\n\nText of page 2 tells of the mill at length.\n"
    )
    assert [c.title for c in document.chapters] == ["Part One"]


def test_the_narration_speaks_the_text_and_not_the_margins(book: Path, fake_voice: str) -> None:
    document = load(book)
    result = narrate(document.text, voice=fake_voice)
    assert [c.title for c in result.chapters] == ["Chapter One", "Chapter Two"]
    spoken = " ".join(FakeEngine.calls)
    assert "narration of its history" in spoken
    assert "well-known" in spoken
    assert "TWO RIVERS" not in spoken and "Novel" not in spoken
    assert result.audio is not None and np.abs(result.audio).max() > 0.01


def test_markdown_in_the_text_is_read_as_written(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(60, 700, "# not a heading, and *not* emphasis [or a link](x).")
    pdf.showPage()
    pdf.save()
    path = tmp_path / "marks.pdf"
    path.write_bytes(buffer.getvalue())
    text = load(path).text
    assert text == "\\# not a heading, and \\*not\\* emphasis \\[or a link\\](x).\n"


def scan() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pixels = (np.random.default_rng(1).random((64, 64)) * 255).astype(np.uint8)
    from PIL import Image

    pdf.drawImage(ImageReader(Image.fromarray(pixels)), 50, 400, 300, 300)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            scan,
            "has no text layer (its pages are pictures only, as a scan's are); narrator "
            "reads the text of a PDF, not its images: run it through OCR first (for example "
            "ocrmypdf)",
        ),
        (
            lambda: draw_book(encrypt="secret"),
            "is encrypted (it needs a password to open); narrator cannot read it: save a "
            "copy without the password first",
        ),
        (
            lambda: draw_book()[: len(draw_book()) // 2],
            "is truncated or damaged (its end-of-file marker is missing); get a complete "
            "copy of the PDF",
        ),
        (lambda: b"Just some text.\n", "is not a PDF (it does not start with %PDF-)"),
        (
            lambda: b"%PDF-1.4\n" + b"garbage " * 100 + b"\n%%EOF\n",
            "is damaged or not a PDF (No /Root object! - Is this really a PDF?)",
        ),
    ],
    ids=["scan", "encrypted", "truncated", "not-a-pdf", "corrupt"],
)
def test_unreadable_pdfs_are_one_clear_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(make())
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_pdf_that_opens_without_a_password_is_read(tmp_path: Path) -> None:
    """Encryption with an owner password only (printing or copying restricted) opens in
    every viewer, and is read."""
    from reportlab.lib.pdfencrypt import StandardEncryption

    path = tmp_path / "restricted.pdf"
    path.write_bytes(draw_book(encrypt=StandardEncryption("", ownerPassword="owner")))
    assert load(path).text == EXPECTED


def test_the_text_size_cap(book: Path) -> None:
    with (
        book.open("rb") as stream,
        pytest.raises(InputError, match=r"has more than 200 bytes of text; .*--max-input-size"),
    ):
        read_pdf(stream, str(book), max_bytes=200)


def test_a_decompression_bomb_page_is_refused(tmp_path: Path, monkeypatch) -> None:
    import narrator.books.pdf as pdf_module

    monkeypatch.setattr(pdf_module, "MAX_PAGE_CONTENT_BYTES", 1000)
    path = tmp_path / "bomb.pdf"
    path.write_bytes(draw_book(pageCompression=1))
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}: page 1 inflates to more than 1,000 bytes of drawing instructions "
        "(a decompression bomb, not text); narrator does not read it"
    )


def test_an_outline_entry_goes_where_it_points_on_the_page(tmp_path: Path) -> None:
    """An entry whose title is not printed is spoken as a heading where it points."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(60, 700, "The first part of the page ends here.")
    pdf.drawString(60, 500, "The second part begins lower down.")
    pdf.bookmarkPage("top", fit="XYZ", top=720)
    pdf.addOutlineEntry("Opening", "top", level=0)
    pdf.bookmarkPage("lower", fit="XYZ", top=515)
    pdf.addOutlineEntry("Later", "lower", level=0)
    pdf.showPage()
    pdf.save()
    path = tmp_path / "points.pdf"
    path.write_bytes(buffer.getvalue())
    document = load(path)
    assert document.text == (
        "# Opening\n\nThe first part of the page ends here.\n\n"
        "# Later\n\nThe second part begins lower down.\n"
    )
    assert [(c.title, c.line) for c in document.chapters] == [("Opening", 1), ("Later", 5)]


def test_picture_pages_among_text_are_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    picture = ImageReader(Image.fromarray(np.zeros((8, 8), dtype=np.uint8)))
    for number in range(1, 5):
        if number in (2, 3):
            pdf.drawImage(picture, 50, 400, 300, 300)
        else:
            pdf.setFont("Helvetica", 10)
            pdf.drawString(60, 700, f"Page {number} has text on it.")
        pdf.showPage()
    pdf.save()
    path = tmp_path / "mixed.pdf"
    path.write_bytes(buffer.getvalue())
    with caplog.at_level("WARNING", logger="narrator.books.pdf"):
        document = load(path)
    assert document.text == "Page 1 has text on it.\n\nPage 4 has text on it.\n"
    assert caplog.messages == [
        f"{path}: 2 pages without a text layer (pictures only) not read: 2-3"
    ]


@pytest.mark.parametrize(
    ("broken", "elsewhere", "read"),
    [
        ("narra-\x00tion", "", "narration"),  # the lexicon knows the joined word
        ("well-\x00known", "", "well-known"),  # both halves are words, the joined one is not
        ("re-\x00cover", "they re-cover the chairs", "re-cover"),  # the document decides first
        ("co-\x00operate", "we cooperate", "cooperate"),
        ("mother-in-\x00law", "", "mother-in-law"),  # a compound already
        ("Anglo-\x00Saxon", "", "Anglo-Saxon"),  # before a capital
        ("zorbu-\x00lated", "", "zorbulated"),  # unknown: taken for hyphenation
    ],
)
def test_the_line_end_hyphen_rule(broken: str, elsewhere: str, read: str) -> None:
    from narrator.books.pdf import _HYPHEN_BREAK, _Builder, _Paragraph

    builder = _Builder({}, 10**6, "rule")
    builder.paragraphs = [_Paragraph(1, f"Then {broken} came."), _Paragraph(1, elsewhere or "x")]
    assert _HYPHEN_BREAK in builder.paragraphs[0].text
    assert builder.finish().text.splitlines()[0] == f"Then {read} came."


def test_ligatures_are_read_as_their_letters(tmp_path: Path) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    fonts = [Path(p) for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)]
    font = next((f for f in fonts if f.exists()), None)
    if font is None:
        import reportlab

        font = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
    pdfmetrics.registerFont(TTFont("Body", str(font)))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Body", 10)
    pdf.drawString(60, 700, "The \ufb01rst \ufb02oor was \ufb01lled with o\ufb03ce chairs.")
    pdf.showPage()
    pdf.save()
    path = tmp_path / "ligatures.pdf"
    path.write_bytes(buffer.getvalue())
    assert load(path).text == "The first floor was filled with office chairs.\n"
