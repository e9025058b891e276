"""Pronunciation lexicons: TOML files of respellings, in files, presets and on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from narrator.cli import cli
from narrator.errors import OptionError
from narrator.text import Lexicon, LexiconError, load_lexicon, prepare, split_text
from narrator.text.lexicon import combine, follow_case
from narrator.voices import load_voice

NAMES = """\
[words]
nguyen = "win"
Reading = "Redding"
"C++" = "C plus plus"
"New York" = "Noo York"
new = "gnu"

[patterns]
'(\\d+)x(\\d+)' = '\\1 by \\2'
'\\bDr\\.(?= Who)' = "Doctor"
"""


@pytest.fixture
def names(tmp_path: Path) -> Path:
    path = tmp_path / "names.toml"
    path.write_text(NAMES, "utf-8")
    return path


def spoken(text: str, lexicon: object) -> list[str]:
    return [s.text for s in split_text(text, lexicon=lexicon)]  # type: ignore[arg-type]


def test_lower_case_keys_match_any_case_and_follow_it(names: Path) -> None:
    lexicon = load_lexicon(names)
    assert lexicon.apply_to("nguyen Nguyen NGUYEN") == "win Win WIN"


def test_keys_with_capitals_match_exactly(names: Path) -> None:
    lexicon = load_lexicon(names)
    assert lexicon.apply_to("Reading is fun; reading is fun.") == "Redding is fun; reading is fun."


def test_words_match_whole_words_only(names: Path) -> None:
    lexicon = load_lexicon(names)
    assert lexicon.apply_to("Nguyens and renew and newer") == "Nguyens and renew and newer"
    assert lexicon.apply_to("I code C++ daily.") == "I code C plus plus daily."


def test_the_longest_key_wins(names: Path) -> None:
    assert load_lexicon(names).apply_to("New York is new.") == "Noo York is gnu."


def test_patterns_are_regular_expressions_with_groups(names: Path) -> None:
    assert load_lexicon(names).apply_to("A 4x4 and Dr. Who") == "A 4 by 4 and Doctor Who"


def test_follow_case() -> None:
    assert follow_case("Word", "respelling") == "Respelling"
    assert follow_case("WORD", "respelling") == "RESPELLING"
    assert follow_case("word", "Respelling") == "Respelling"
    assert follow_case("A", "ay") == "Ay"


def test_the_lexicon_applies_before_normalization(names: Path) -> None:
    lexicon = Lexicon({"1984": "the Orwell year", "St.": "Street"})
    assert spoken("St. Louis in 1984.", lexicon) == ["Street Louis in the Orwell year."]
    assert spoken("It was 1985.", lexicon) == ["It was nineteen eighty-five."]
    # What the lexicon writes is normalized like the rest: a 4x4 becomes "4 by 4".
    assert spoken("A 4x4 truck.", names) == ["A four by four truck."]


def test_an_empty_replacement_removes_a_word_and_the_audit_reports_it() -> None:
    script = prepare("Hello um world.", lexicon=Lexicon({"um": ""}))
    assert [s.text for s in script.segments] == ["Hello world."]
    assert [(o.text, o.line, o.column) for o in script.omissions] == [("um", 1, 7)]


def test_user_lexicon_wins_over_the_voice_lexicon() -> None:
    user = Lexicon({"tomato": "tomahto"})
    voice = Lexicon({"tomato": "tomayto", "potato": "potahto"})
    merged = combine([user, voice])
    assert merged is not None
    assert merged.apply_to("tomato potato") == "tomahto potahto"
    assert combine([None, None]) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[wrods]\na = "b"\n', "unknown table wrods"),
        ("[words]\na = 1\n", "must map to a string"),
        ('[patterns]\n"(" = "x"\n', "not a valid regular expression"),
        ('words = "x"\n', "must be a table"),
        ("[words\n", "not valid TOML"),
        ("[patterns]\n'(a)' = '\\3'\n", r"pattern '\(a\)': the replacement '\\\\3' names a group"),
        ("[patterns]\n'(a)' = '\\g<name>'\n", "names a group the pattern does not have"),
        ("[patterns]\n'(?P<name>a)' = '\\g<nome>'\n", "names a group the pattern does not have"),
        ("[patterns]\n'(a)' = '\\q'\n", r"'\\\\q' is not a valid template \(bad escape"),
        (
            '[patterns]\n"a" = "b\\u0000"\n',
            "pattern 'a': the replacement holds the control character U\\+0000",
        ),
        ("[patterns]\n'(a)' = '\\0'\n", "control character U\\+0000"),
        ('[words]\nnul = "b\\u0000"\n', "the replacement of 'nul' holds the control"),
    ],
)
def test_broken_lexicons_are_refused_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content, "utf-8")
    with pytest.raises(LexiconError, match=message) as info:
        load_lexicon(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, OptionError) and info.value.exit_code == 2


def test_templates_that_name_existing_groups_load() -> None:
    lexicon = Lexicon(patterns=[("(?P<w>\\d+)x(\\d+)", "\\g<w> by \\2, \\g<0>\\n")])
    assert lexicon.apply_to("3x4") == "3 by 4, 3x4\n"


def test_a_catastrophic_pattern_is_stopped_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from narrator.text import lexicon as module

    monkeypatch.setattr(module, "PATTERN_TIMEOUT", 0.2)
    hanging = Lexicon(patterns=[("(a+)+$", "x")])
    with pytest.raises(LexiconError, match=r"lexicon pattern '\(a\+\)\+\$' took more than 0.2 s"):
        spoken("a" * 5000 + "b.", hanging)


def test_a_catastrophic_pattern_is_one_error_line_from_read(
    tmp_path: Path, fake_voice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from narrator.text import lexicon as module

    monkeypatch.setattr(module, "PATTERN_TIMEOUT", 0.2)
    (tmp_path / "slow.toml").write_text("[patterns]\n'(a+)+$' = 'x'\n", "utf-8")
    story = tmp_path / "story.txt"
    story.write_text("a" * 5000 + "b\n", "utf-8")
    output = tmp_path / "story.wav"
    result = CliRunner().invoke(cli, ["read", str(story), "-v", fake_voice, "-o", str(output),
                                      "--lexicon", str(tmp_path / "slow.toml"), "-q"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("narrator: error: lexicon pattern '(a+)+$' took more than")
    assert result.stderr.count("\n") == 1
    assert not output.exists()


def test_a_missing_lexicon_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="no such lexicon file"):
        load_lexicon(tmp_path / "nope.toml")


# --- presets and the command line ---------------------------------------------------


def test_a_voice_preset_names_its_lexicon_relative_to_itself(user_dirs: Path, names: Path) -> None:
    (user_dirs / "lexica").mkdir()
    (user_dirs / "lexica" / "names.toml").write_text(NAMES, "utf-8")
    (user_dirs / "named.toml").write_text(
        'name = "named"\nengine = "piper"\nmodel = "en_US-joe-medium"\nlanguage = "en_US"\n'
        'description = "joe with a lexicon"\nlexicon = "lexica/names.toml"\n'
    )
    voice = load_voice("named")
    assert voice.lexicon_path() == user_dirs / "lexica" / "names.toml"
    assert "lexicon" not in voice.sound_identity()
    assert load_voice("joe").lexicon_path() is None


def test_split_takes_a_lexicon(tmp_path: Path, names: Path) -> None:
    story = tmp_path / "story.txt"
    story.write_text("Nguyen went to New York.\n", "utf-8")
    result = CliRunner().invoke(cli, ["split", str(story), "--lexicon", str(names)],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "Win went to Noo York.\n"


def test_split_uses_the_voice_preset_lexicon(tmp_path: Path, user_dirs: Path) -> None:
    (user_dirs / "words.toml").write_text('[words]\nnguyen = "win"\n', "utf-8")
    (user_dirs / "named.toml").write_text(
        'name = "named"\nengine = "piper"\nmodel = "en_US-joe-medium"\nlanguage = "en_US"\n'
        'description = "joe with a lexicon"\nlexicon = "words.toml"\n'
    )
    story = tmp_path / "story.txt"
    story.write_text("Nguyen left.\n", "utf-8")
    result = CliRunner().invoke(cli, ["split", str(story), "-v", "named", "--json"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [s["text"] for s in json.loads(result.stdout)] == ["Win left."]


def test_a_broken_lexicon_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    story = tmp_path / "story.txt"
    story.write_text("Text.\n", "utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text("[words]\na = 1\n", "utf-8")
    result = CliRunner().invoke(cli, ["split", str(story), "--lexicon", str(bad)])
    assert result.exit_code == 2
    assert "must map to a string" in result.stderr


def test_read_takes_a_lexicon(tmp_path: Path, names: Path, fake_voice: str) -> None:
    from .fake_engine import FakeEngine

    story = tmp_path / "story.txt"
    story.write_text("Nguyen went to New York.\n", "utf-8")
    output = tmp_path / "story.wav"
    result = CliRunner().invoke(
        cli, ["read", str(story), "-v", fake_voice, "-o", str(output), "--lexicon", str(names),
              "--no-cache", "-q"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert FakeEngine.calls == ["Win went to Noo York."]
    assert output.exists()
