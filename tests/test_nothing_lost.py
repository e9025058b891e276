"""Nothing lost: every word of the input is spoken, or reported with its position.

Property tests (hypothesis) feed the front-end random Unicode (emoji, control
characters, right-to-left text, combining marks, lines without punctuation)
and Markdown-ish soup, and check that it never raises, never sends an empty
segment, keeps the order of the input, and accounts for every word: spoken,
normalized to words, or reported.
"""

from __future__ import annotations

import logging
import random
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from narrator.text import Script, prepare, split_text
from narrator.text.audit import WORD, audit
from narrator.text.chunks import LONGEST_CHUNK
from narrator.text.mapped import Mapped

SAYS_SOMETHING = re.compile(r"[^\W_]")
LIMIT = 60

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"
"""Letters by category that are invisible (Default_Ignorable_Code_Point): not spoken."""

TOKENS = [
    "# ", "## ", "\n", "\n\n", "- ", "* ", "1. ", "> ", "*", "**", "_", "`", "```", "~~~", "[",
    "](", ")", "![", "<!--", "-->", "<b>", "---", "***", "===", "|", "\\", "#", "$", "€", "4.50",
    "1984", "3,497", "-5", "9:45", "a.m.", "2024-05-01", "1/2", "½", "%", "km", "°C", "IV",
    "Chapter", "Henry", "Dr.", "St.", "e.g.", "etc.", "http://x.com/a?b=1", "a@b.co", "COVID-19",
    "B2B", "v2.0", "1st", "+", "&", "@", "=", "😀", "👋🏽", "❤️", "\u200f", "\u200b", "\x00",
    "\x07", "\x0c", "\u2028", "שלום", "مرحبا", "é", "e\u0301", "ﬁ", "１２", "²", "word", "Word",
    "WORD", "I", "¹", " ", " ", " ", ",", ".", "...", "?", "!", '"', "“", "”", "'", "—", "–", "(",
    "[^1]", "[^n]: ", "---\n", "title: ", "[1]", "[2, 3]",
]  # fmt: skip


def check(text: str, language: str = "en_US") -> Script:
    """Run the front-end on *text* and assert everything this module promises."""
    script = prepare(text, language=language, limit=LIMIT)
    assert len(script.segments) == len(script.spoken)
    previous = -1
    for segment, spoken in zip(script.segments, script.spoken, strict=True):
        # Never an empty or unspeakable segment, and chunks that fit the engine.
        assert SAYS_SOMETHING.search(segment.text), segment
        assert segment.text == spoken.text == segment.text.strip()
        assert segment.chunks and all(0 < len(c) <= LIMIT for c in segment.chunks)
        assert "".join("".join(segment.chunks).split()) == "".join(segment.text.split())
        # The mapping is honest: verbatim pieces are the input itself, in input order.
        for piece in spoken.pieces:
            if piece.verbatim:
                assert text[piece.start : piece.end] == piece.text
            if piece.end > piece.start:
                assert piece.start >= previous, (piece, text)
                previous = piece.start
    # Every word is spoken (by a piece that says something) or reported.
    said = [(p.start, p.end) for m in script.spoken for p in m.pieces
            if p.end > p.start and SAYS_SOMETHING.search(p.text)]  # fmt: skip
    reported = [(o.start, o.end) for o in script.omissions]
    for word in WORD.finditer(text):
        start, end = word.span()
        assert any(a < end and b > start for a, b in said) or any(
            a <= start and b >= end for a, b in reported
        ), (word.group(), start, text, script.omissions)
    starts = {"code block": ("```", "~~~"), "HTML comment": ("<!--",), "link reference": ("[",),
              "footnote mark": ("[^", *"⁰¹²³⁴⁵⁶⁷⁸⁹"), "front matter": ("---",),
              "citation mark": ("[",)}  # fmt: skip
    for omission in script.omissions:
        where = text[omission.start : omission.end]
        assert where.startswith(omission.text.rstrip("…"))
        assert where.lstrip(" >").startswith(starts.get(omission.reason, ("",))), omission
    return script


@PROPERTY
@given(st.text())
@example("[0][0]")  # an inline reference's label is reported with its brackets
def test_random_unicode(text: str) -> None:
    check(text)


@PROPERTY
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_markdown_and_normalization_soup(text: str) -> None:
    check(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
       st.sampled_from(["de", "fr_FR", "es", "pt_BR", "ru", "zh_CN", "ja", "xx"]))  # fmt: skip
def test_other_languages(text: str, language: str) -> None:
    check(text, language)


@PROPERTY
@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Nd", "Zs", "Po", "So"],
                                      max_codepoint=0x2FFF), min_size=1))  # fmt: skip
@example("\u115f")  # a Hangul filler is not a word
def test_words_no_rule_touches_come_out_as_written_and_in_order(text: str) -> None:
    """Words in scripts no rule reads (Greek, Cyrillic, Hebrew, ...) pass as written.

    Up to compatibility forms (NFKC) and case: a segment's first letter may be capitalised.
    """
    script = check(text)
    spoken = unicodedata.normalize("NFKC", " ".join(s.text for s in script.segments)).casefold()
    position = 0
    for written in WORD.findall(text):
        word = unicodedata.normalize("NFKC", written).casefold()
        word = "".join(c for c in word if c not in HANGUL_FILLERS)
        if word.isalpha() and all(ord(c) > 0x24F for c in word):
            found = spoken.find(word, position)
            assert found >= 0, (word, spoken)
            position = found + len(word)


def test_very_long_line_without_punctuation() -> None:
    rng = random.Random(4)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 12)))
             for _ in range(20_000)]  # fmt: skip
    text = " ".join(words)
    script = check(text)
    assert len(script.segments) == 1 and not script.omissions
    chunks = prepare(text).segments[0].chunks
    assert all(len(c) <= LONGEST_CHUNK for c in chunks)
    assert " ".join(chunks).rstrip(".").split() == words


def test_one_word_longer_than_the_limit_is_cut_not_lost() -> None:
    script = check("x" * 500)
    assert "".join(script.segments[0].chunks) == "x" * 500 + "."


def test_emoji_are_reported_with_their_position() -> None:
    script = check("Hello 😀 world.\nSecond 👋🏽 line :D.")
    assert [s.text for s in script.segments] == ["Hello world.", "Second line."]
    assert [(o.line, o.column, o.text, o.reason) for o in script.omissions] == [
        (1, 7, "😀", "unspeakable symbol"),
        (2, 8, "👋🏽", "unspeakable symbol"),
        (2, 16, ":D", "unspeakable symbol"),  # once, though it holds a letter
    ]


def test_left_out_markup_is_reported_with_its_reason() -> None:
    text = "See [docs](https://example.com/docs).\n\n```\nprint(1)\n```\n\n<!-- note -->End."
    script = check(text)
    assert [(o.line, o.reason) for o in script.omissions] == [
        (1, "link target"), (3, "code block"), (7, "HTML comment"),
    ]  # fmt: skip


def test_front_matter_and_footnote_marks_are_left_out_and_reported() -> None:
    text = "---\ntitle: Notes\ntags:\n  - a\n---\n# Notes\n\nA claim.[^1]\n\n[^1]: A source.\n"
    script = check(text)
    assert [s.text for s in script.segments] == ["Notes.", "A claim.", "Footnote one: A source."]
    assert [(o.line, o.reason) for o in script.omissions] == [
        (1, "front matter"), (8, "footnote mark"),
    ]  # fmt: skip


def test_a_segment_of_only_symbols_is_dropped_and_its_pause_kept() -> None:
    segments = split_text("First.\n\n😀😀\n\n# Next\n\nText.")
    assert [(s.text, s.boundary.value) for s in segments] == [
        ("First.", "paragraph"), ("Next.", "heading"), ("Text.", "end"),
    ]  # fmt: skip


def test_unspeakable_text_is_logged_with_its_position(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="narrator"):
        split_text("Hi 😀.\n\n```\ncode\n```\n\n[a](http://b.c)")
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("INFO", "unspeakable text at line 1, column 4: '😀' (unspeakable symbol)") in messages
    assert ("WARNING", "skipped a code block at line 3") in messages
    assert ("DEBUG", "left out link target at line 7, column 5: 'http://b.c'") in messages


def test_audit_maps_spoken_text_back_to_the_input() -> None:
    source = "one two three"
    spoken = Mapped.of(source).edit([(4, 7, "")])
    [omission] = audit(source, [spoken])
    assert (omission.text, omission.line, omission.column, omission.reason) == (
        "two", 1, 5, "not spoken")  # fmt: skip


PROSE = [
    "the", "a", "and", "of", "to", "in", "it", "was", "she", "he", "they", "her", "his",
    "that", "with", "for", "on", "as", "at", "by", "from", "but", "not", "reading", "machine",
    "voice", "listened", "carefully", "while", "rain", "fell", "over", "library", "window",
    "quietly", "letters", "sounds", "numbers", "evening", "morning", "kitchen", "table",
    "book", "page", "stone", "garden", "light", "dark", "said", "asked", "answered", "thought",
    "walked", "turned", "opened", "closed", "remembered", "waited", "laughed",
]  # fmt: skip
SPECIAL = [
    "Dr.", "Mrs.", "St.", "e.g.", "etc.", "1984", "3,497", "$4.50", "9:45", "a.m.", "2024-05-01",
    "5 km", "12%", "1/2", "COVID-19", "Henry VIII", "😀", "“Wait…”", "22nd", "1990–1995",
]  # fmt: skip


def generated_text(size: int, seed: int = 1, numbers: float = 0.03) -> str:
    """*size* characters of seeded prose with Markdown, lists, dialogue and, in a
    *numbers* share of the words, numbers, dates, money, abbreviations and emoji."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0

    def sentence() -> str:
        words = [rng.choice(SPECIAL) if rng.random() < numbers else rng.choice(PROSE)
                 for _ in range(rng.randint(3, 30))]  # fmt: skip
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice(".?!")

    while total < size:
        roll = rng.random()
        if roll < 0.03:
            part = f"## Chapter {rng.randint(1, 40)}\n\n"
        elif roll < 0.06:
            part = "".join(f"- {sentence()}\n" for _ in range(3)) + "\n"
        elif roll < 0.07:
            part = "* * *\n\n"
        else:
            part = " ".join(sentence() for _ in range(rng.randint(1, 6))) + "\n\n"
        parts.append(part)
        total += len(part)
    return "".join(parts)[:size]


def test_a_megabyte_of_text_takes_linear_time() -> None:
    # How quick is a benchmark's question (benchmarks/bench_text.py, docs/benchmarks.md),
    # not a unit test's: on one loaded core a megabyte took 19.7 s.  Whether the time
    # grows linearly is asked here, with the slower of two small runs so that a quiet
    # moment during the small one cannot fail it; quadratic growth would be 16 times.
    small, big = generated_text(1 << 18), generated_text(1 << 20)
    small_seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        prepare(small, language="en_US")
        small_seconds = max(small_seconds, time.perf_counter() - started)
    started = time.perf_counter()
    script = prepare(big, language="en_US")
    big_seconds = time.perf_counter() - started
    assert big_seconds < 4 * small_seconds * 2.0, (small_seconds, big_seconds)  # linear-ish
    assert len(script.segments) > 5000
    assert all(o.reason == "unspeakable symbol" for o in script.omissions)
