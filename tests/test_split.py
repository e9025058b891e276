"""The text front-end: reading input files and splitting text into segments.

The golden files in ``tests/data/split`` (format: ``tests/golden.py``) cover
structure and sentences; byte-level cases (a BOM, CRLF, UTF-16, binary data)
are plain tests below.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest

from narrator.errors import InputError
from narrator.rendering import Boundary, Rendering
from narrator.text import STDIN, Kind, decode_text, read_text, split_text

from .golden import CASES, check_golden_files, golden_cases, render


@pytest.mark.parametrize(("text", "language", "expected"), golden_cases())
def test_golden(text: str, language: str, expected: list[str]) -> None:
    assert render(split_text(text, language=language)) == expected


def test_golden_files_are_well_formed() -> None:
    check_golden_files(CASES, 15)


# --- structure the golden files cannot show -------------------------------------


def test_segments_are_numbered_and_keep_their_paragraph() -> None:
    segments = split_text("# Title\n\nOne. Two.\n\nThree.")
    assert [s.index for s in segments] == [0, 1, 2, 3]
    assert [s.paragraph for s in segments] == [0, 1, 1, 2]
    assert [s.kind for s in segments] == [Kind.HEADING, Kind.SENTENCE, Kind.SENTENCE, Kind.SENTENCE]


def test_source_keeps_the_original_text_and_heading_gets_no_period() -> None:
    heading, sentence = split_text("## A Heading\n\nA line\nwrapped   here.")
    assert (heading.source, heading.text) == ("A Heading", "A Heading.")
    assert sentence.source == "A line wrapped   here."
    assert sentence.text == "A line wrapped here."


def test_a_line_of_spaces_separates_paragraphs() -> None:
    segments = split_text("First paragraph.\n   \t\nSecond paragraph.")
    assert render(segments) == [
        "sentence|paragraph|First paragraph.",
        "sentence|end|Second paragraph.",
    ]


def test_crlf_input_splits_like_lf() -> None:
    text = "# Title\r\n\r\nA line\r\nwrapped. Another one.\r\n\r\nEnd.\r\n"
    assert render(split_text(text)) == render(split_text(text.replace("\r\n", "\n")))
    assert render(split_text(text)) == [
        "heading|heading|Title.",
        "sentence|sentence|A line wrapped.",
        "sentence|paragraph|Another one.",
        "sentence|end|End.",
    ]


def test_decoded_crlf_and_cr_become_lf() -> None:
    assert decode_text(b"One.\r\nTwo.\rThree.\n") == "One.\nTwo.\nThree.\n"


def test_empty_text_has_nothing_to_narrate() -> None:
    for text in ("", "\n  \n\t\n", "?!\n\n* * *\n"):
        with pytest.raises(InputError, match="there is nothing to narrate"):
            split_text(text)


# --- pauses follow the rendering ------------------------------------------------


def test_pauses_follow_the_rendering() -> None:
    rendering = Rendering(sentence_pause=0.3, paragraph_pause=0.9, heading_pause=2.0)
    segments = split_text("# Title\n\nOne. Two.\n\nThree.", rendering=rendering)
    assert [(s.boundary, s.pause) for s in segments] == [
        (Boundary.HEADING, 2.0),
        (Boundary.SENTENCE, 0.3),
        (Boundary.PARAGRAPH, 0.9),
        (Boundary.END, 0.0),
    ]


def test_heading_pause_is_never_shorter_than_the_paragraph_pause() -> None:
    rendering = Rendering(sentence_pause=0.2, paragraph_pause=1.7, heading_pause=0.5)
    heading, *_ = split_text("# Title\n\nText.", rendering=rendering)
    assert heading.pause == 1.7


def test_default_pauses() -> None:
    defaults = Rendering()
    segments = split_text("# Title\n\nOne. Two.\n\nThree.")
    assert [s.pause for s in segments] == [
        max(defaults.heading_pause, defaults.paragraph_pause),
        defaults.sentence_pause,
        defaults.paragraph_pause,
        0.0,
    ]


# --- reading and decoding -------------------------------------------------------


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf# Title\n\nHello.\n")
    text = read_text(path)
    assert text == "# Title\n\nHello.\n"
    # With the BOM gone the first line is a heading again, not a sentence.
    assert render(split_text(text)) == ["heading|heading|Title.", "sentence|end|Hello."]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_decoded(encoding: str) -> None:
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    data = bom + "“Is it done?” she asked.\r\nYes.\r\n".encode(encoding)
    assert decode_text(data) == "“Is it done?” she asked.\nYes.\n"


def test_utf16_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes("Wait… what?\n".encode("utf-16"))
    assert read_text(path) == "Wait… what?\n"


def test_binary_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InputError, match="binary"):
        read_text(path)
    with pytest.raises(InputError, match="binary"):
        decode_text(b"text\x00more text")


def test_invalid_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café au lait.".encode("latin-1"))
    with pytest.raises(InputError, match=r"not UTF-8 .*offset 3\b") as info:
        read_text(path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("content", [b"", b"   \n\t\n\r\n", b"\xef\xbb\xbf\n"])
def test_empty_or_blank_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match="empty"):
        read_text(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_text(tmp_path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError, match="no such file") as info:
        read_text(missing)
    assert str(missing) in str(info.value)


def test_standard_input_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfFrom a pipe.\r\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert read_text(STDIN) == "From a pipe.\n"


def test_empty_standard_input_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(InputError, match="standard input: is empty"):
        read_text(STDIN)


# --- structure: scene breaks, lists, chunks, positions ------------------------------


def test_scene_breaks_get_the_scene_pause() -> None:
    rendering = Rendering(paragraph_pause=0.8, scene_pause=2.5)
    segments = split_text("One.\n\n* * *\n\nTwo.\n\n***\n\n# Three\n\nFour.", rendering=rendering)
    assert [(s.text, s.boundary, s.pause) for s in segments] == [
        ("One.", Boundary.SCENE, 2.5),
        ("Two.", Boundary.SCENE, 2.5),
        ("Three.", Boundary.HEADING, max(rendering.heading_pause, 0.8)),
        ("Four.", Boundary.END, 0.0),
    ]


def test_scene_pause_is_never_shorter_than_the_paragraph_pause() -> None:
    rendering = Rendering(paragraph_pause=1.2, scene_pause=0.5)
    first, _ = split_text("One.\n\n---\n\nTwo.", rendering=rendering)
    assert first.pause == 1.2


def test_list_items_are_separate_segments_with_sentence_pauses() -> None:
    segments = split_text("Buy:\n\n- eggs\n- milk\n\nDone.")
    assert [(s.kind, s.boundary, s.text) for s in segments] == [
        (Kind.SENTENCE, Boundary.PARAGRAPH, "Buy:"),
        (Kind.ITEM, Boundary.SENTENCE, "eggs."),
        (Kind.ITEM, Boundary.PARAGRAPH, "milk."),
        (Kind.SENTENCE, Boundary.END, "Done."),
    ]
    assert [s.paragraph for s in segments] == [0, 1, 2, 3]


def test_segments_know_their_line_and_source() -> None:
    segments = split_text("# *Title*\n\nFirst line\nwraps. Then **this**.\n\n- an [item](x.html)")
    assert [(s.line, s.source) for s in segments] == [
        (1, "Title"), (3, "First line wraps."), (4, "Then this."), (6, "an item"),
    ]  # fmt: skip


def test_chunks_follow_the_limit() -> None:
    text = "A sentence that is rather long, with a comma, and then some more words after it."
    [unlimited] = split_text(text)
    assert unlimited.chunks == (text,)
    [limited] = split_text(text, limit=40)
    assert len(limited.chunks) > 1 and all(len(c) <= 40 for c in limited.chunks)
    assert limited.to_dict()["chunks"] == list(limited.chunks)


def test_split_text_keeps_its_old_signature() -> None:
    assert render(split_text("One. Two.", language="en_US", rendering=Rendering())) == [
        "sentence|sentence|One.",
        "sentence|end|Two.",
    ]


def test_split_json_shows_the_engine_chunks(tmp_path: Path, user_dirs: Path) -> None:
    from click.testing import CliRunner

    from narrator.cli import cli
    from narrator.engines import register_engine, unregister_engine

    from .fake_engine import FakeEngine

    class ShortEngine(FakeEngine):
        name = "short"
        max_chars = 30

    register_engine("short", ShortEngine)
    (user_dirs / "short.toml").write_text(
        'name = "short"\nengine = "short"\nmodel = "tone"\nlanguage = "en"\n'
        'description = "takes 30 characters at a time"\n'
    )
    story = tmp_path / "story.md"
    story.write_text("# Title\n\nA sentence long enough to need two chunks, at least.\n")
    try:
        short = CliRunner().invoke(cli, ["split", str(story), "-v", "short", "--json"],
                                   catch_exceptions=False)  # fmt: skip
        joe = CliRunner().invoke(cli, ["split", str(story), "-v", "joe", "--json"],
                                 catch_exceptions=False)  # fmt: skip
    finally:
        unregister_engine("short")
    assert short.exit_code == 0 and joe.exit_code == 0
    heading, sentence = json.loads(short.stdout)
    assert set(sentence) >= {"text", "source", "kind", "boundary", "pause", "chunks", "line"}
    assert heading["chunks"] == ["Title."]
    assert sentence["chunks"] == ["A sentence long enough to", "need two chunks, at least."]
    assert [s["chunks"] for s in json.loads(joe.stdout)] == [
        ["Title."],
        ["A sentence long enough to need two chunks, at least."],
    ]  # joe takes 400 characters: one chunk


def test_split_verbose_reports_unspeakable_text(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from narrator.cli import cli

    story = tmp_path / "story.txt"
    story.write_text("Hello 😀 world.\n", "utf-8")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(cli, ["split", str(story), "--verbose"])
    finally:
        root.handlers[:], root.level = handlers, level
    assert result.exit_code == 0
    assert result.stdout == "Hello world.\n"
    assert "unspeakable text at line 1, column 7: '😀' (unspeakable symbol)" in result.stderr


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "ja",
            "今日は良い天気ですね。明日は雨が降るでしょう！本当ですか？彼は「行く。」と言った。",
            ["今日は良い天気ですね。", "明日は雨が降るでしょう!", "本当ですか?",
             "彼は「行く。」と言った。"],
        ),
        (
            "zh",
            "今天天气很好。我们去公园吧！你来吗？他说：“你好！”然后走了。",
            ["今天天气很好。", "我们去公园吧!", "你来吗?", "他说:“你好!”", "然后走了。"],
        ),
        # An English text quoting Japanese: the ideographic full stop ends a sentence too.
        ("en", "She wrote 終わり。Then she left.", ["She wrote 終わり。", "Then she left."]),
    ],
)  # fmt: skip
def test_sentences_end_at_ideographic_stops_without_spaces(
    language: str, text: str, expected: list[str]
) -> None:
    """Chinese and Japanese end sentences with 。！？ and put no space after them."""
    assert [s.text for s in split_text(text, language=language)] == expected
