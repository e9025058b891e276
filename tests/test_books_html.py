"""The HTML reader: pages to Markdown, article extraction, and hostile pages refused."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from narrator import narrate
from narrator.books import load
from narrator.books.html import read_html
from narrator.errors import InputError

from .fake_engine import FakeEngine

NEWS_PAGE = """\
<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>The River Keeper | Daily Bugle</title>
<meta name="author" content="Ada Lovelace">
<meta property="og:title" content="The River Keeper">
<style>body { font-family: serif; }</style>
<script>var tracking = "script text is never read";</script>
</head>
<body>
<header class="site-header">
  <a href="/">Daily Bugle</a>
  <nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
  <li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav>
</header>
<div id="cookie-banner" class="cookie-consent">
  <p>We use cookies to improve your experience on our site.</p>
  <button>Accept all cookies</button>
</div>
<main>
<article>
<h1>The River Keeper</h1>
<p>For forty years, Martha Hill has kept the lock on the old canal. She opens the gates
at dawn and closes them at dusk, and in between she watches the boats go by.</p>
<h2>Early days</h2>
<p>She came to the river in 1984, when the canal was still full of reeds and the towpath
was a line of mud. Nobody thought the boats would ever come back.</p>
<ul><li>She cleared the reeds by hand.</li><li>She painted the gates green.</li></ul>
<blockquote><p>The river gives back what you give it, said Martha with a smile.</p></blockquote>
<p>Roses are red,<br>Violets are blue,<br>Sugar is sweet,<br>And so are you.</p>
<p>Today the canal carries more than two thousand boats a year, and Martha knows most
of their names by heart. She has no plans to retire.</p>
</article>
</main>
<aside class="related"><h3>Related stories</h3><ul><li><a href="/a">Ten best canal walks</a></li>
<li><a href="/b">The lock keepers of Europe</a></li></ul></aside>
<footer><p>Copyright 2026 Daily Bugle. All rights reserved.</p>
<a href="/privacy">Privacy policy</a></footer>
</body>
</html>
"""

ARTICLE = """\
# The River Keeper

For forty years, Martha Hill has kept the lock on the old canal. She opens the gates at \
dawn and closes them at dusk, and in between she watches the boats go by.

## Early days

She came to the river in 1984, when the canal was still full of reeds and the towpath was \
a line of mud. Nobody thought the boats would ever come back.

- She cleared the reeds by hand.
- She painted the gates green.

> The river gives back what you give it, said Martha with a smile.

Roses are red,
Violets are blue,
Sugar is sweet,
And so are you.

Today the canal carries more than two thousand boats a year, and Martha knows most of \
their names by heart. She has no plans to retire.
"""


def page(tmp_path: Path, html: str | bytes, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_bytes(html.encode() if isinstance(html, str) else html)
    return path


def test_a_news_page_reads_as_its_article(tmp_path: Path) -> None:
    document = load(page(tmp_path, NEWS_PAGE))
    assert document.text == ARTICLE
    assert document.format == "html"
    assert document.title == "The River Keeper"
    assert document.authors == ["Ada Lovelace"]
    assert document.language == "en-GB"
    assert [(c.title, c.line) for c in document.chapters] == [("The River Keeper", 1)]
    assert document.place(1) == "heading 1"
    assert document.place(3) == "paragraph 1"
    assert document.place(len(document.text.splitlines())) == "paragraph 7"


def test_the_article_is_what_is_spoken(tmp_path: Path, fake_voice: str) -> None:
    document = load(page(tmp_path, NEWS_PAGE))
    result = narrate(document.text, voice=fake_voice)
    spoken = " ".join(FakeEngine.calls)
    assert "Martha Hill" in spoken and "Violets are blue" in spoken
    for unwanted in ("cookies", "Home", "Sport", "Copyright", "Related", "script", "Privacy"):
        assert unwanted not in spoken
    assert [c.title for c in result.chapters][:1] == ["The River Keeper"]


def test_without_extraction_the_page_is_read_but_for_what_is_never_read(tmp_path: Path) -> None:
    text = load(page(tmp_path, NEWS_PAGE), extract=False).text
    assert text.startswith(
        "We use cookies to improve your experience on our site.\n\n# The River Keeper\n"
    )
    assert text.endswith(
        "## Related stories\n\n- Ten best canal walks\n- The lock keepers of Europe\n"
    )
    for never in ("Daily Bugle", "Home", "Accept all", "script", "font-family", "Copyright"):
        assert never not in text


STRUCTURE = """\
<html><body>
<h2>Tables, forms<br>and hidden things</h2>
<p hidden>Hidden by the attribute.</p>
<p style="color: red; display:none">Hidden by its style.</p>
<div aria-hidden="true">Hidden from screen readers.</div>
<form><label>Your email</label><input value="x"><button>Subscribe</button></form>
<table><caption>Two pioneers</caption>
<tr><th>Name</th><th>Born</th></tr>
<tr><td>Ada</td><td>1815</td></tr>
<tr><td>Alan</td><td>1912</td></tr>
</table>
<ol start="3"><li>Third, with <em>emphasis</em>.</li>
<li>Fourth<ul><li>a nested point</li></ul></li></ol>
<p>A note mark<sup><a href="#n1" id="r1">1</a></sup> is not read.</p>
<p>1. Not a list, # not a heading, *not emphasis*, a &lt;b&gt; tag, [text](x) and `code`.</p>
<hr>
<p>After the break.</p>
<section class="footnotes" role="doc-endnotes"><p id="n1">1. The note itself.</p></section>
</body></html>
"""


def test_structure_tables_hidden_elements_and_escaping(tmp_path: Path) -> None:
    document = load(page(tmp_path, STRUCTURE), extract=False)
    assert document.text == (
        "## Tables, forms and hidden things\n\n"
        "Two pioneers\n\n"
        "- Name: Ada; Born: 1815\n"
        "- Name: Alan; Born: 1912\n\n"
        "3. Third, with emphasis.\n"
        "4. Fourth\n"
        "  - a nested point\n\n"
        "A note mark is not read.\n\n"
        "1\\. Not a list, # not a heading, \\*not emphasis\\*, a < b> tag, \\[text\\](x) "
        "and 'code'.\n\n"
        "* * *\n\n"
        "After the break.\n\n"
        "1\\. The note itself.\n"
    )
    skipped = load(page(tmp_path, STRUCTURE), extract=False, skip_notes=True).text
    assert skipped.endswith("After the break.\n")


def test_the_front_end_reads_the_escaped_text_as_written(tmp_path: Path) -> None:
    from narrator.text.markup import parse

    blocks, _ = parse(load(page(tmp_path, STRUCTURE), extract=False).text)
    assert [b.text.text for b in blocks if b.text.text.startswith("1. Not")] == [
        "1. Not a list, # not a heading, *not emphasis*, a < b> tag, [text](x) and 'code'."
    ]


XHTML = """\
<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN"
  "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"
      xml:lang="fr">
<head><title>Le chapitre</title></head>
<body>
<h1>Un</h1>
<script src="x.js"/>
<p>Caf&eacute; and&nbsp;more<a epub:type="noteref" href="#n1">*</a> text &amp; such.</p>
<aside epub:type="footnote" id="n1"><p>The note itself.</p></aside>
</body>
</html>
"""


def test_xhtml_self_closed_elements_entities_and_notes(tmp_path: Path) -> None:
    path = page(tmp_path, XHTML, "chapter.xhtml")
    document = load(path, extract=False)  # (as an EPUB's chapters are read)
    assert document.text == "# Un\n\nCafé and more text & such.\n\nThe note itself.\n"
    assert document.language == "fr"
    assert document.title == "Le chapitre"
    assert load(path, extract=False, skip_notes=True).text == "# Un\n\nCafé and more text & such.\n"


BILLION_LAUGHS = """\
<?xml version="1.0"?>
<!DOCTYPE html [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><p>&lol9;</p></body></html>
"""

EXTERNAL_ENTITY = """\
<?xml version="1.0"?>
<!DOCTYPE html [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><p>The secret: &secret;</p></body></html>
"""

REFUSED = (
    "declares its own XML entities (<!ENTITY ...> in its DOCTYPE), which narrator does not "
    'expand: they can grow to gigabytes ("billion laughs") or read other files; remove the '
    "declarations to read the page"
)


@pytest.mark.parametrize(
    ("html", "name"),
    [
        (BILLION_LAUGHS, "bomb.xhtml"),
        (BILLION_LAUGHS.replace('<?xml version="1.0"?>\n', ""), "bomb.html"),
        (EXTERNAL_ENTITY, "external.xhtml"),
        (EXTERNAL_ENTITY.replace('<?xml version="1.0"?>\n', ""), "external.htm"),
    ],
    ids=["billion-laughs-xhtml", "billion-laughs-html", "external-xhtml", "external-html"],
)
def test_entity_declarations_are_refused(tmp_path: Path, html: str, name: str) -> None:
    path = page(tmp_path, html, name)
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: {REFUSED}"


def test_the_xml_parser_expands_no_entity_itself() -> None:
    """Under the refusal, the parse itself neither expands nor fetches an entity."""
    from narrator.books.html import _parse

    root = _parse(EXTERNAL_ENTITY, "page")
    assert "root:" not in root.text_content()


def test_elements_nested_too_deep_are_refused(tmp_path: Path) -> None:
    path = page(tmp_path, "<div>" * 300 + "<p>Deep text.</p>" + "</div>" * 300)
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}: goes beyond the HTML parser's limits (elements nested more than 256 deep); "
        "it is not a page narrator can read"
    )


def test_the_size_cap(tmp_path: Path) -> None:
    path = page(tmp_path, NEWS_PAGE)
    with pytest.raises(InputError) as caught:
        load(path, max_bytes=100)
    assert str(caught.value) == (
        f"{path}: is larger than 100 bytes; if it really is a page to narrate, raise the "
        "limit with --max-input-size (or NARRATOR_MAX_INPUT)"
    )


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("", "is empty; there is nothing to narrate"),
        (
            "<html><head><title>T</title></head><body><nav>Home</nav></body></html>",
            "has no text to read (no paragraphs, headings or lists)",
        ),
    ],
)
def test_a_page_without_text(tmp_path: Path, html: str, message: str) -> None:
    path = page(tmp_path, html)
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: {message}"


def test_legacy_charset_and_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    html = '<html><head><meta charset="windows-1252"></head><body><p>Caf\xe9 cr\xe8me.</p>'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(html.encode("cp1252"))))
    document = load("-", "html")
    assert document.text == "Café crème.\n"


def test_a_short_page_with_nothing_to_leave_out_keeps_its_structure(tmp_path: Path) -> None:
    html = "<html><body><h1>Title</h1><p>One short paragraph.</p></body></html>"
    assert load(page(tmp_path, html)).text == "# Title\n\nOne short paragraph.\n"


def test_read_html_takes_a_stream() -> None:
    document = read_html(io.BytesIO(NEWS_PAGE.encode()), "page")
    assert document.text == ARTICLE


def test_entity_declarations_are_refused_in_utf16_too(tmp_path: Path) -> None:
    path = page(tmp_path, EXTERNAL_ENTITY.encode("utf-16"), "wide.xhtml")
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: {REFUSED}"
