"""Voice presets: the shipped ones, the user's own, and strict validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from narrator.errors import VoiceError
from narrator.voices import (
    Voice,
    builtin_voices_dir,
    list_voices,
    load_preset,
    load_voice,
    parse_preset,
)

SHIPPED = sorted(path.stem for path in builtin_voices_dir().glob("*.toml"))
"""The presets that ship with narrator (joe among them)."""

GOOD = {
    "name": "sam",
    "engine": "piper",
    "model": "en_US-sam-medium",
    "language": "en_US",
    "description": "A test voice",
}


def toml(**values: object) -> str:
    lines = []
    for key, value in values.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


def test_joe_ships_and_loads():
    joe = load_voice("joe")
    assert joe.name == "joe"
    assert joe.engine == "piper"
    assert joe.language == "en_US"
    assert joe.model == "en_US-joe-medium"
    assert joe.speed == 1.0
    assert joe.speaker is None
    assert joe.path == builtin_voices_dir() / "joe.toml"


def test_default_voice_is_joe():
    assert load_voice().name == "heart"
    assert load_voice(None) == load_voice("heart")


def test_list_voices_has_shipped_and_user_presets(user_dirs: Path):
    assert [v.name for v in list_voices()] == SHIPPED
    assert "joe" in SHIPPED
    (user_dirs / "sam.toml").write_text(toml(**GOOD))
    voices = list_voices()
    assert [v.name for v in voices] == sorted([*SHIPPED, "sam"])
    [sam] = [v for v in voices if v.name == "sam"]
    assert sam.path == user_dirs / "sam.toml"
    assert all(isinstance(v, Voice) for v in voices)


def test_user_preset_overrides_shipped_name(user_dirs: Path):
    (user_dirs / "joe.toml").write_text(
        toml(**{**GOOD, "name": "joe", "description": "My own joe"})
    )
    [joe] = [v for v in list_voices() if v.name == "joe"]
    assert len(list_voices()) == len(SHIPPED)
    assert joe.description == "My own joe"
    assert joe.path == user_dirs / "joe.toml"
    assert load_voice("joe").description == "My own joe"


def test_files_that_are_not_presets_are_ignored(user_dirs: Path):
    (user_dirs / "notes.txt").write_text("not a preset")
    assert [v.name for v in list_voices()] == SHIPPED


def test_optional_keys():
    voice = parse_preset({**GOOD, "speaker": 3, "speed": 1, "options": {"noise_scale": 0.5}})
    assert voice.speaker == "3"
    assert voice.speed == 1.0
    assert isinstance(voice.speed, float)
    assert voice.options == {"noise_scale": 0.5}


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            {"sped": 1.2},
            "unknown key sped (allowed: credit, description, engine, language, lexicon, "
            "license, model, name, notes, options, seed, size_mb, speaker, speaker_wav, speed)",
        ),
        ({"sped": 1.2, "colour": "blue"}, "unknown keys colour, sped (allowed:"),
        ({"path": "/tmp/x"}, "unknown key path (allowed:"),
    ],
)
def test_unknown_keys_are_named(extra: dict, message: str):
    with pytest.raises(VoiceError) as info:
        parse_preset({**GOOD, **extra})
    assert str(info.value).startswith(message)
    allowed = str(info.value).split("(allowed: ", 1)[1].rstrip(")").split(", ")
    assert allowed == sorted(allowed)
    assert {"speaker", "speed", "options"} <= set(allowed)
    assert "path" not in allowed


def test_unknown_key_in_a_file_names_the_file(tmp_path: Path):
    path = tmp_path / "sam.toml"
    path.write_text(toml(**GOOD) + "voice = 2\n")
    with pytest.raises(VoiceError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"{path}: unknown key voice (allowed:")


@pytest.mark.parametrize(
    "drop,message",
    [
        (["model"], "missing key model"),
        (["engine", "language"], "missing keys engine, language"),
    ],
)
def test_missing_required_keys(drop: list[str], message: str):
    data = {k: v for k, v in GOOD.items() if k not in drop}
    with pytest.raises(VoiceError) as info:
        parse_preset(data)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("speed", "1.2", "speed must be a number, not '1.2'"),
        ("speed", True, "speed must be a number, not True"),
        ("name", 7, "name must be a string, not 7"),
        ("speaker", 1.5, "speaker must be a string or number, not 1.5"),
        ("options", "fast", "options must be a table, not 'fast'"),
    ],
)
def test_wrong_types(key: str, value: object, message: str):
    with pytest.raises(VoiceError) as info:
        parse_preset({**GOOD, key: value})
    assert str(info.value) == message


def test_speed_as_a_string_in_a_file(tmp_path: Path):
    path = tmp_path / "sam.toml"
    path.write_text(toml(**GOOD) + 'speed = "fast"\n')
    with pytest.raises(VoiceError) as info:
        load_voice(path)
    assert str(info.value) == f"{path}: speed must be a number, not 'fast'"


@pytest.mark.parametrize("speed", [0.1, 4.5, -1.0])
def test_speed_out_of_range(tmp_path: Path, speed: float):
    path = tmp_path / "sam.toml"
    path.write_text(toml(**GOOD) + f"speed = {speed}\n")
    with pytest.raises(VoiceError) as info:
        load_preset(path)
    assert str(info.value) == f"{path}: speed must be between 0.25 and 4.0, not {speed:g}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("speed = 1e30", "speed must be between 0.25 and 4.0, not 1e+30"),
        ("speed = nan", "speed must be between 0.25 and 4.0, not nan"),
        ("speed = inf", "speed must be between 0.25 and 4.0, not inf"),
        ("speed = true", "speed must be a number, not True"),
        ("seed = true", "seed must be a whole number, not True"),
        ("seed = 1.5", "seed must be a whole number, not 1.5"),
        ("seed = -1", "seed must be a whole number from 0 to 4294967295, not -1"),
        ("seed = 99999999999", "seed must be a whole number from 0 to 4294967295, not 99999999999"),
        ('engine = ""', "engine must be a non-empty string, not ''"),
        ('speaker_wav = ["a.wav", 3]', "speaker_wav must be a file name or a list of file names"),
    ],
)  # fmt: skip
def test_out_of_range_values_in_a_file_name_the_file(tmp_path: Path, line: str, message: str):
    path = tmp_path / "sam.toml"
    good = {k: v for k, v in GOOD.items() if not line.startswith(f"{k} ")}
    path.write_text(toml(**good) + line + "\n")
    with pytest.raises(VoiceError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert info.value.exit_code == 3


def test_list_voices_can_leave_broken_presets_out(user_dirs: Path):
    (user_dirs / "bad.toml").write_text(toml(**{**GOOD, "name": "bad"}) + "seed = -1\n")
    with pytest.raises(VoiceError, match="bad.toml: seed must be"):
        list_voices()
    broken: list[VoiceError] = []
    assert [v.name for v in list_voices(broken)] == SHIPPED
    assert [str(e).split(":")[0] for e in broken] == [str(user_dirs / "bad.toml")]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"speed": float("nan")}, "speed must be between 0.25 and 4.0, not nan"),
        ({"speed": "1.2"}, "speed must be a number, not '1.2'"),
        ({"seed": True}, "seed must be a whole number from 0 to 4294967295, not True"),
        ({"seed": 2**40}, "seed must be a whole number from 0 to 4294967295, not 1099511627776"),
        ({"name": None}, "name must be a non-empty string, not None"),
        ({"speaker": 1.5}, "speaker must be a string, not 1.5"),
        ({"speaker_wav": "a.wav"}, "speaker_wav must be a sequence of file names, not 'a.wav'"),
        ({"options": []}, "options must be a dict with string keys, not []"),
        ({"lexicon": 3}, "lexicon must be a file name, not 3"),
        ({"path": 3}, "path must be a path to the preset file, not 3"),
    ],
)  # fmt: skip
def test_a_voice_built_in_code_is_checked(changes: dict[str, object], message: str):
    with pytest.raises(VoiceError) as info:
        Voice(**{**GOOD, **changes})  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_voice_built_in_code_takes_paths_and_numbers():
    voice = Voice(**GOOD, speaker=3, speaker_wav=[Path("a.wav")], lexicon=Path("l.toml"),
                  path="sam.toml")  # type: ignore[arg-type]  # fmt: skip
    assert (voice.speaker, voice.speaker_wav, voice.lexicon) == ("3", ("a.wav",), "l.toml")
    assert voice.path == Path("sam.toml")


def test_with_options_checks_speed_too():
    joe = load_voice("joe")
    assert joe.with_options(speed=1.5).speed == 1.5
    assert joe.with_options(speaker="2").speaker == "2"
    assert joe.with_options() is joe
    with pytest.raises(VoiceError):
        joe.with_options(speed=9.0)


def test_bad_toml(user_dirs: Path):
    path = user_dirs / "broken.toml"
    path.write_text('name = "broken\nengine = piper\n')
    with pytest.raises(VoiceError) as info:
        load_voice("broken")
    assert str(info.value).startswith(f"{path}: not valid TOML (")
    # A broken preset breaks the listing too, and the message names its file.
    with pytest.raises(VoiceError) as info:
        list_voices()
    assert str(path) in str(info.value)


def test_preset_that_is_not_utf8(tmp_path: Path):
    path = tmp_path / "latin.toml"
    path.write_bytes(toml(**GOOD).replace("A test voice", "Caf\xe9").encode("latin-1"))
    with pytest.raises(VoiceError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"{path}: cannot read it (")


def test_unknown_voice_lists_known(user_dirs: Path):
    (user_dirs / "sam.toml").write_text(toml(**GOOD))
    with pytest.raises(VoiceError) as info:
        load_voice("nobody")
    known = ", ".join(sorted([*SHIPPED, "sam"]))
    assert str(info.value) == f"unknown voice 'nobody'; known voices: {known}"


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "voices/../joe",
        "../voices/joe",
        "/etc/passwd",
        "./joe",
        "..",
        "",
        ".hidden",
        "joe/",
        "~/joe",
    ],
)
def test_names_are_never_paths(name: str, user_dirs: Path, tmp_path: Path, monkeypatch):
    # Even with a preset file where the path would lead, a name is only a name.
    (user_dirs / "sub").mkdir()
    (user_dirs / "sub" / "joe.toml").write_text(toml(**{**GOOD, "name": "joe"}))
    monkeypatch.chdir(user_dirs / "sub")
    with pytest.raises(VoiceError) as info:
        load_voice(name)
    assert str(info.value) == f"unknown voice {name!r}; known voices: {', '.join(SHIPPED)}"


def test_a_toml_path_loads(tmp_path: Path):
    path = tmp_path / "elsewhere" / "sam.toml"
    path.parent.mkdir()
    path.write_text(toml(**GOOD))
    for given in (path, str(path)):
        voice = load_voice(given)
        assert voice.name == "sam"
        assert voice.path == path


def test_a_missing_toml_path(tmp_path: Path):
    path = tmp_path / "nope.toml"
    with pytest.raises(VoiceError) as info:
        load_voice(str(path))
    assert str(info.value) == f"{path}: no such voice preset file"


def test_relative_model_resolves_against_the_preset_folder(tmp_path: Path, monkeypatch):
    folder = tmp_path / "presets"
    (folder / "models").mkdir(parents=True)
    model = folder / "models" / "sam.onnx"
    model.write_bytes(b"")
    path = folder / "sam.toml"
    path.write_text(toml(**{**GOOD, "model": "models/sam.onnx"}))
    monkeypatch.chdir(tmp_path)  # not the preset's folder
    voice = load_voice(path)
    assert voice.base_dir == folder
    assert voice.local_model() == model


def test_model_that_is_not_a_local_file(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_voice("joe").local_model() is None
    path = tmp_path / "sam.toml"
    path.write_text(toml(**{**GOOD, "model": "models/missing.onnx"}))
    assert load_voice(path).local_model() is None


def test_absolute_model_path(tmp_path: Path):
    model = tmp_path / "abs.onnx"
    model.write_bytes(b"")
    path = tmp_path / "presets" / "sam.toml"
    path.parent.mkdir()
    path.write_text(toml(**{**GOOD, "model": str(model)}))
    assert load_voice(path).local_model() == model


def test_a_voice_object_passes_through():
    voice = Voice(**GOOD)
    assert load_voice(voice) is voice
    assert voice.base_dir == Path.cwd()
