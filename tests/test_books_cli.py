"""HTML and PDF through the command line: the same readers as the library, with the
book options of ``read``, ``split`` and ``chapters``."""

from __future__ import annotations

import json
from pathlib import Path

import mutagen
import pytest
from click.testing import CliRunner, Result

from narrator.cli import cli
from narrator.tags import read_chapters

from .fake_engine import FakeEngine
from .test_books_html import NEWS_PAGE
from .test_books_pdf import draw_book


def invoke(args: list[str], **kwargs) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False, **kwargs)


@pytest.fixture
def news(tmp_path: Path) -> Path:
    path = tmp_path / "river.html"
    path.write_text(NEWS_PAGE, "utf-8")
    return path


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "two-rivers.pdf"
    path.write_bytes(draw_book())
    return path


def test_a_news_page_reads_as_its_article(news: Path, tmp_path: Path, fake_voice: str) -> None:
    out = tmp_path / "river.m4a"
    result = invoke(["read", str(news), "-o", str(out), "-v", fake_voice, "-q"])
    assert result.exit_code == 0, result.output
    spoken = " ".join(FakeEngine.calls)
    assert "Martha Hill has kept the lock" in spoken
    for menu in ("cookies", "Sport", "Related stories", "Copyright", "tracking"):
        assert menu not in spoken
    tags = mutagen.File(out)
    assert tags is not None and tags["\xa9nam"] == ["The River Keeper"]
    assert tags["\xa9ART"] == ["Ada Lovelace"]


def test_html_on_standard_input_needs_the_format(fake_voice: str) -> None:
    result = invoke(["split", "-", "--input-format", "html", "-v", fake_voice, "--json"],
                    input=NEWS_PAGE)  # fmt: skip
    assert result.exit_code == 0, result.output
    segments = json.loads(result.stdout)
    assert segments[0]["text"].rstrip(".") == "The River Keeper"
    assert all("cookie" not in s["text"].lower() for s in segments)
    assert {s["place"].split()[0] for s in segments} <= {"heading", "paragraph"}


def test_no_extract_reads_the_whole_cleaned_page(news: Path, fake_voice: str) -> None:
    result = invoke(["split", str(news), "--no-extract", "-v", fake_voice])
    assert result.exit_code == 0, result.output
    assert "We use cookies to improve your experience on our site." in result.stdout
    assert "Home" not in result.stdout  # the navigation is never read


def test_a_pdf_narrates_with_its_outline_as_chapters(
    pdf: Path, tmp_path: Path, fake_voice: str
) -> None:
    out = tmp_path / "two-rivers.m4b"
    result = invoke(["read", str(pdf), "-o", str(out), "-v", fake_voice, "-q", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [title for title, _, _ in read_chapters(out)] == ["Chapter One", "Chapter Two"]
    assert mutagen.File(out).info.length == pytest.approx(summary["duration"], abs=0.1)
    listing = invoke(["chapters", str(pdf), "-v", fake_voice, "--json"])
    assert listing.exit_code == 0, listing.output
    assert [c["title"] for c in json.loads(listing.stdout)][-2:] == ["Chapter One", "Chapter Two"]


def test_split_places_name_pdf_pages(pdf: Path, fake_voice: str) -> None:
    result = invoke(["split", str(pdf), "--places", "-v", fake_voice])
    assert result.exit_code == 0, result.output
    places = {line.split("\t")[0] for line in result.stdout.splitlines()}
    assert places == {"page 1", "page 2", "page 3"}


def test_a_broken_pdf_is_one_line_and_nothing_written(tmp_path: Path, fake_voice: str) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(draw_book()[:2000])
    out = tmp_path / "broken.mp3"
    result = invoke(["read", str(broken), "-o", str(out), "-v", fake_voice])
    assert result.exit_code == 2
    assert result.output.startswith("narrator: error: ") and result.output.count("\n") == 1
    assert not out.exists()
