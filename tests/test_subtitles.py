"""Subtitles follow subtitle conventions: at most two lines of 42 characters, long sentences
in several cues cut where a reader pauses, each cue under 7 seconds, valid SRT and WebVTT."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from narrator import narrate
from narrator.timeline import (
    CUE_LINES,
    CUE_SECONDS,
    LINE_CHARS,
    Cue,
    format_srt,
    format_vtt,
    sentence_cues,
)

LONG = (
    "The reading machine was built in a garage over three winters, and it was slow at "
    "first, so slow that a page took an hour, but the part I am proudest of is that it "
    "never once mispronounced the name of the town; everyone else did, including the mayor."
)
COMMA = "After the storm had passed and the boats were back, the keeper went to bed early."
SENTENCES = [
    "Hello there.",
    COMMA,
    LONG,
    "A " + "x" * 60 + " word longer than a line stays whole, on a line of its own.",
    "Short words: a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i.",
]

_CLOCK = r"(\d\d):([0-5]\d):([0-5]\d)[,.](\d\d\d)"


def check(cues: list[Cue], text: str, start: float, end: float) -> None:
    """The conventions, for the cues of one sentence spoken from *start* to *end*."""
    assert " ".join(" ".join(c.text.split("\n")) for c in cues) == " ".join(text.split())
    assert cues[0].start == start and cues[-1].end == end
    for cue, following in zip(cues, cues[1:], strict=False):
        assert cue.end == pytest.approx(following.start)  # one after the other, no gap
    for cue in cues:
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= CUE_LINES, cue
        assert all(line and line == line.strip() for line in lines), cue
        assert all(len(line) <= LINE_CHARS or " " not in line for line in lines), cue
        assert cue.start < cue.end
        assert cue.end - cue.start <= CUE_SECONDS + 1e-9 or " " not in cue.text, cue


@pytest.mark.parametrize("text", SENTENCES)
@pytest.mark.parametrize("seconds", [0.8, 5.0, 14.0, 40.0])
def test_a_sentence_becomes_cues_that_follow_the_conventions(text: str, seconds: float):
    cues = sentence_cues(text, 3.0, 3.0 + seconds)
    check(cues, text, 3.0, 3.0 + seconds)
    if len(text) <= LINE_CHARS and seconds <= CUE_SECONDS:
        assert cues == [Cue(3.0, 3.0 + seconds, text)]


def test_the_long_sentence_is_cut_at_its_clauses():
    cues = sentence_cues(LONG, 0.0, 13.6)  # as spoken by joe
    check(cues, LONG, 0.0, 13.6)
    assert len(cues) == 4
    # Three of its four cues end at a clause mark; 84 characters do not reach the fourth.
    assert [c.text[-1] for c in cues] == [",", "m", ";", "."]


def test_a_cue_ends_at_the_comma_when_it_can():
    (whole,) = sentence_cues(COMMA, 0.0, 4.0)
    assert (
        whole.text
        == "After the storm had passed and the boats\nwere back, the keeper went to bed early."
    )
    (first, second) = sentence_cues(COMMA, 0.0, 8.0)  # too long for one cue
    assert first.text.endswith("back,")
    assert second.text == "the keeper went to bed early."
    # Timed by the characters: the cut falls where the comma is spoken.
    assert first.end == pytest.approx(8.0 * (COMMA.index("back,") + 6) / (len(COMMA) + 1))


def test_two_lines_are_balanced():
    (cue,) = sentence_cues("The keeper climbed the stairs and lit the lamp at the top.", 0, 3)
    top, bottom = cue.text.split("\n")
    assert abs(len(top) - len(bottom)) <= 10, cue.text


def test_a_slow_sentence_is_cut_by_time():
    text = "The keeper climbed the stairs slowly."
    cues = sentence_cues(text, 0.0, 20.0)
    check(cues, text, 0.0, 20.0)
    assert len(cues) >= 3


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz,.;:'", min_size=1, max_size=50)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, min_size=1, max_size=120), st.floats(0.05, 120.0))
def test_any_sentence_gives_valid_cues(parts: list[str], seconds: float):
    text = " ".join(parts)
    check(sentence_cues(text, 1.5, 1.5 + seconds), text, 1.5, 1.5 + seconds)


def test_srt_and_vtt_escape_what_would_break_them():
    cue = Cue(1.0, 2.5, "if a < b && c --> d")
    srt = format_srt([cue])
    assert srt == "1\n00:00:01,000 --> 00:00:02,500\nif a < b && c -> d\n"
    vtt = format_vtt([cue])
    assert vtt == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nif a &lt; b &amp;&amp; c --&gt; d\n"


def parse_srt(text: str) -> list[tuple[float, float, list[str]]]:
    """The cues of an SRT file, checking its syntax strictly as it goes."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    found = []
    for number, block in enumerate(text[:-1].split("\n\n"), start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        match = re.fullmatch(rf"{_CLOCK} --> {_CLOCK}", lines[1])
        assert match, lines[1]
        found.append((*_times(match), lines[2:]))
    return found


def parse_vtt(text: str) -> list[tuple[float, float, list[str]]]:
    """The cues of a WebVTT file, checking its syntax strictly as it goes."""
    assert text.startswith("WEBVTT\n\n") and text.endswith("\n") and not text.endswith("\n\n")
    found = []
    for block in text[len("WEBVTT\n\n") : -1].split("\n\n"):
        lines = block.split("\n")
        match = re.fullmatch(rf"{_CLOCK} --> {_CLOCK}", lines[0])
        assert match, lines[0]
        assert not any("-->" in line or "<" in line for line in lines[1:])
        found.append((*_times(match), lines[1:]))
    return found


def _times(match: re.Match[str]) -> tuple[float, float]:
    h, m, s, ms, h2, m2, s2, ms2 = (int(g) for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_the_subtitles_of_a_narration(fake_voice, tmp_path: Path, kind: str):
    story = f"# A Story\n\n{LONG} {COMMA}\n\nHello there.\n"
    path = tmp_path / f"story.{kind}"
    result = narrate(story, tmp_path / "story.wav", voice=fake_voice, subtitles=path)
    parsed = (parse_srt if kind == "srt" else parse_vtt)(path.read_text("utf-8"))
    assert len(parsed) == len(result.cues) > len(result.segments)
    for (start, end, lines), cue in zip(parsed, result.cues, strict=True):
        assert lines == cue.text.split("\n")
        assert 1 <= len(lines) <= CUE_LINES and all(len(line) <= LINE_CHARS for line in lines)
        assert start == pytest.approx(cue.start, abs=0.0006)
        assert end == pytest.approx(cue.end, abs=0.0006)
        assert 0 < end - start <= CUE_SECONDS
    starts = [start for start, _, _ in parsed]
    assert starts == sorted(starts)
    assert all(end <= following for (_, end, _), following in zip(parsed, starts[1:], strict=False))
    # Every segment's words, in its cues, within its speech.
    rate = result.sample_rate
    for segment, span in zip(result.segments, result.spans, strict=True):
        inside = [c for c in result.cues if span.start / rate <= c.start < span.end / rate]
        assert " ".join(" ".join(c.text.split()) for c in inside) == " ".join(
            segment.source.split()
        )
        assert inside[-1].end == span.end / rate
    assert parsed[0][2] == ["A Story"]
