"""The ``narrator`` command line, driven through click's CliRunner (and once for real)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator.cli import cli
from narrator.encode import output_rate
from narrator.rendering import (
    DEFAULT_HEADING_PAUSE,
    DEFAULT_LEAD_IN,
    DEFAULT_PARAGRAPH_PAUSE,
    DEFAULT_SENTENCE_PAUSE,
    DEFAULT_TAIL,
    AudioFormat,
)
from narrator.stitch import ONSET_MARGIN, RELEASE_MARGIN
from narrator.voices import list_voices

from .fake_engine import SAMPLE_RATE, expected_speech_seconds

STORY = "# Chapter One\n\nThe cat sat. The dog ran.\n\nThe end.\n"
SPOKEN = ["Chapter One.", "The cat sat.", "The dog ran.", "The end."]
PAUSES = [DEFAULT_HEADING_PAUSE, DEFAULT_SENTENCE_PAUSE, DEFAULT_PARAGRAPH_PAUSE, 0.0]

WROTE = re.compile(
    r"narrator: wrote (?P<where>.+): (?P<clock>\d+:\d\d) of audio, (?P<segments>\d+) segments?"
    r"(?:, \d+ from the cache)?, "
    r"(?P<lufs>-?\d+\.\d) LUFS, in \d+\.\d s \(real-time factor \d+\.\d{3}\)\n"
)


@pytest.fixture
def story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "story.txt"
    path.write_text(STORY)
    return path


def invoke(args: list[str], **kwargs) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False, **kwargs)


def expected_seconds(spoken: list[str] = SPOKEN, pauses: list[float] = PAUSES) -> float:
    """Lead-in, the speech with its pauses, and the tail.  Each clip keeps a short margin
    before and after its speech; between two clips the margins are part of the pause."""
    speech = sum(expected_speech_seconds(text) for text in spoken)
    margins = ONSET_MARGIN + RELEASE_MARGIN
    return DEFAULT_LEAD_IN + margins + speech + sum(pauses) + DEFAULT_TAIL


def assert_usage_error(result: Result, message: str) -> None:
    """Click's usage error: the usage, a hint, and one line that starts ``Error: message``."""
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Usage: narrator read [OPTIONS] INPUT\n")
    *_, hint, blank, error = result.stderr.splitlines()
    assert (hint, blank) == ("Try 'narrator read --help' for help.", "")
    assert error.startswith(f"Error: {message}")
    assert result.stderr.count("Error") == 1


# Help and version


def test_help():
    result = invoke(["--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: narrator [OPTIONS] COMMAND [ARGS]...\n")
    assert "Narrate text files into audiobook-quality audio" in result.stdout
    for command in ("read", "split", "voices"):
        assert re.search(rf"^  {command}\s+\S", result.stdout, re.M)
    assert invoke(["-h"]).stdout == result.stdout


@pytest.mark.parametrize(
    "command,usage,first_line",
    [
        (
            "read",
            "read [OPTIONS] INPUT",
            "Narrate INPUT (a text, Markdown, HTML, EPUB or PDF file, or - for",
        ),
        ("split", "split [OPTIONS] INPUT", "Show how INPUT is split into spoken segments"),
        ("voices", "voices [OPTIONS] [COMMAND] [ARGS]...", "List the voice presets."),
    ],
)
def test_command_help(command: str, usage: str, first_line: str):
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith(f"Usage: narrator {usage}\n\n  {first_line}")


def test_every_read_option_has_help():
    result = invoke(["read", "--help"])
    for option in ("--output", "--voice", "--speed", "--sentence-pause", "--paragraph-pause",
                   "--heading-pause", "--loudness", "--true-peak", "--format", "--bitrate",
                   "--title", "--quiet"):  # fmt: skip
        line = next(line for line in result.stdout.splitlines() if option in line)
        assert len(line.split(option, 1)[1].strip()) > 5, line


def test_version():
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == "narrator, version 0.1.0\n"


# voices


def test_voices(fake_voice: str):
    result = invoke(["voices"])
    assert result.exit_code == 0
    assert result.stderr == ""
    names = [v.name for v in list_voices()]
    lines = [line for line in result.stdout.splitlines() if not line.startswith(" ")]  # notes
    assert [line.split()[0] for line in lines] == names
    # Aligned columns: name, engine, language first, the description last.
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in lines}
    assert rows["fake"][:3] == ["fake", "fake", "en"]
    assert rows["fake"][-1] == "A test tone whose length follows the text"
    assert rows["joe"][:3] == ["joe", "piper", "en_US"]
    assert rows["joe"][-1].startswith("American English male")
    engine_columns = {
        line.index(f"  {row[1]}") for line, row in zip(lines, rows.values(), strict=True)
    }
    assert len(engine_columns) == 1


def test_voices_json(fake_voice: str, user_dirs: Path):
    result = invoke(["voices", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == [v.name for v in list_voices()]
    for row in rows:
        assert {"name", "engine", "language", "description"} <= set(row)
    by_name = {row["name"]: row for row in rows}
    fake, joe = by_name["fake"], by_name["joe"]
    assert (fake["engine"], fake["language"]) == ("fake", "en")
    assert fake["description"] == "A test tone whose length follows the text"
    assert fake["path"] == str(user_dirs / "fake.toml")
    assert (joe["engine"], joe["language"], joe["model"]) == ("piper", "en_US", "en_US-joe-medium")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('name = "bad"\ncolour = "red"\n', "unknown key colour (allowed: "),
        ('name = "bad"\nengine = "piper"\nmodel = "m"\nlanguage = "en"\ndescription = "d"\n'
         "seed = 99999999999\n", "seed must be a whole number from 0 to 4294967295, "
                                 "not 99999999999; left out"),
    ],
)  # fmt: skip
def test_voices_with_a_broken_preset_lists_the_others(user_dirs: Path, content: str, problem: str):
    (user_dirs / "bad.toml").write_text(content)
    result = invoke(["voices"])
    assert result.exit_code == 0
    listed = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert [line.split()[0] for line in listed] == [v.name for v in list_voices([])]
    assert "joe" in result.stdout and "bad" not in result.stdout
    assert result.stderr.startswith(f"narrator: warning: {user_dirs / 'bad.toml'}: {problem}")
    assert result.stderr.count("\n") == 1
    assert invoke(["voices", "--json"]).stderr == result.stderr


# split


def test_split(story: Path):
    result = invoke(["split", str(story)])
    assert result.exit_code == 0
    assert result.stdout == "Chapter One.\nThe cat sat.\nThe dog ran.\nThe end.\n"
    assert result.stderr == ""


def test_split_json(story: Path):
    result = invoke(["split", "story.txt", "--json", "--sentence-pause", "0.3"])
    assert result.exit_code == 0
    segments = json.loads(result.stdout)
    assert [
        {key: s[key] for key in ("text", "source", "kind", "pause", "boundary")} for s in segments
    ] == [
        {"text": "Chapter One.", "source": "Chapter One", "kind": "heading", "pause": 1.5,
         "boundary": "heading"},
        {"text": "The cat sat.", "source": "The cat sat.", "kind": "sentence", "pause": 0.3,
         "boundary": "sentence"},
        {"text": "The dog ran.", "source": "The dog ran.", "kind": "sentence", "pause": 1.0,
         "boundary": "paragraph"},
        {"text": "The end.", "source": "The end.", "kind": "sentence", "pause": 0.0,
         "boundary": "end"},
    ]  # fmt: skip


def test_split_from_stdin():
    result = invoke(["split", "-"], input="One. Two.\n")
    assert result.exit_code == 0
    assert result.stdout == "One.\nTwo.\n"


# read


@pytest.mark.parametrize("suffix,subtype", [("wav", "PCM_16"), ("flac", "PCM_16"),
                                            ("mp3", "MPEG_LAYER_III")])  # fmt: skip
def test_read_writes_audio(fake_voice: str, story: Path, suffix: str, subtype: str):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", f"story.{suffix}"])
    assert result.exit_code == 0
    assert result.stdout == ""
    match = WROTE.fullmatch(result.stderr)
    assert match, result.stderr
    assert match["where"] == f"story.{suffix}"
    assert match["segments"] == "4"
    assert match["clock"] == "0:07"
    assert float(match["lufs"]) == pytest.approx(-18.0, abs=0.3)
    audio, rate = sf.read(story.parent / f"story.{suffix}")
    assert rate == output_rate(AudioFormat(suffix), SAMPLE_RATE)
    assert sf.info(story.parent / f"story.{suffix}").subtype == subtype
    assert abs(len(audio) / rate - expected_seconds()) <= 0.02
    assert sorted(p.name for p in story.parent.iterdir()) == sorted(
        ["story.txt", f"story.{suffix}"]
    )


def test_read_default_output_is_mp3_beside_cwd(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "--quiet"])
    assert result.exit_code == 0
    assert (story.parent / "story.mp3").is_file()
    result = invoke(["read", "story.txt", "-v", fake_voice, "-q", "-f", "flac"])
    assert result.exit_code == 0
    assert sf.info(story.parent / "story.flac").format == "FLAC"


def test_read_format_option_without_suffix(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-f", "wav", "-o", "audio", "-q"])
    assert result.exit_code == 0
    assert sf.info(story.parent / "audio").format == "WAV"


def test_read_pauses_change_the_length(fake_voice: str, story: Path):
    result = invoke([
        "read", "story.txt", "-v", fake_voice, "-o", "story.wav", "--sentence-pause", "1.25",
        "--paragraph-pause", "2", "--heading-pause", "0.5",
    ])  # fmt: skip
    assert result.exit_code == 0
    # The heading pause is never shorter than the paragraph pause.
    expected = expected_seconds(pauses=[2.0, 1.25, 2.0, 0.0])
    assert abs(sf.info(story.parent / "story.wav").duration - expected) <= 0.02


def test_read_speed(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "story.wav", "--speed", "2"])
    assert result.exit_code == 0
    speech = sum(expected_speech_seconds(text) for text in SPOKEN)
    expected = expected_seconds() - speech / 2
    assert abs(sf.info(story.parent / "story.wav").duration - expected) <= 0.02


def test_read_stdin_to_stdout(fake_voice: str):
    result = invoke(["read", "-", "-v", fake_voice, "-o", "-"], input=b"Hello world.\n")
    assert result.exit_code == 0
    assert WROTE.fullmatch(result.stderr)["where"] == "standard output"
    data = result.stdout_bytes
    assert data.startswith(b"ID3")
    audio, rate = sf.read(io.BytesIO(data))
    assert rate == output_rate(AudioFormat.MP3, SAMPLE_RATE) == 44_100
    expected = expected_seconds(["Hello world."], [0.0])
    assert abs(len(audio) / rate - expected) <= 0.02


def test_read_stdin_needs_an_output(fake_voice: str):
    result = invoke(["read", "-", "-v", fake_voice], input="Hello.\n")
    assert_usage_error(result, "reading standard input needs -o FILE (or -o - for stdout)")


def test_read_quiet(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "story.wav", "--quiet"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""
    assert (story.parent / "story.wav").is_file()


def test_read_title_tag(fake_voice: str, story: Path):
    from mutagen.flac import FLAC

    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "s.flac", "-q",
                     "--title", "My Title"])  # fmt: skip
    assert result.exit_code == 0
    tags = FLAC(story.parent / "s.flac")
    assert tags["TITLE"] == ["My Title"]
    assert tags["ARTIST"] == ["fake"]


# read: errors.  Narrator's own errors are one line; bad option values are click's usage error.


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "missing.txt: no such file"),
        (b"  \n\n\t\n", "missing.txt: is empty; there is nothing to narrate"),
        (b"\x00\x01\x02binary\xff\xfe" * 20,
         "missing.txt: looks like a binary file, not text; give a UTF-8 text file"),
        ("café\n".encode("latin-1"), "missing.txt: is not UTF-8 text (bad byte at offset 3); "
                                     "convert it, for example with: iconv -f latin1 -t utf-8"),
    ],
)  # fmt: skip
def test_read_bad_input(fake_voice: str, tmp_path: Path, monkeypatch, content, message: str):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "missing.txt").write_bytes(content)
    result = invoke(["read", "missing.txt", "-v", fake_voice, "-o", "x.wav"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"narrator: error: {message}\n"
    assert not (tmp_path / "x.wav").exists()


def test_read_input_is_a_directory(fake_voice: str, story: Path):
    (story.parent / "book").mkdir()
    result = invoke(["read", "book", "-v", fake_voice, "-o", "x.wav"])
    assert result.exit_code == 2
    assert result.stderr == "narrator: error: book: is a directory, not a text file\n"


def test_read_unknown_voice(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", "nobody", "-o", "x.wav"])
    assert result.exit_code == 3
    assert result.stdout == ""
    known = ", ".join(v.name for v in list_voices())
    assert {"fake", "joe", "heart"} <= set(known.split(", "))
    assert result.stderr == f"narrator: error: unknown voice 'nobody'; known voices: {known}\n"


def test_read_output_folder_missing(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "nowhere/x.wav"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "narrator: error: nowhere/x.wav: the folder nowhere does not exist\n"
    assert not (story.parent / "nowhere").exists()


@pytest.mark.parametrize("args", [["-o", "out.wav"], ["-o", "out", "-f", "mp3"]])
def test_read_output_is_a_directory(fake_voice: str, story: Path, args: list[str]):
    (story.parent / args[1]).mkdir()
    result = invoke(["read", "story.txt", "-v", fake_voice, *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"narrator: error: {args[1]}: is a directory; give a file name such as story.mp3\n"
    )
    assert list((story.parent / args[1]).iterdir()) == []


@pytest.mark.parametrize(
    "args,message",
    [
        (["-f", "xyz", "-o", "x.mp3"],
         "Invalid value for '-f' / '--format': 'xyz' is not one of 'mp3', 'wav', 'flac'"),
        (["-o", "x.xyz"], "Invalid value for --output: cannot tell the format of 'x.xyz'; "
                          "use a suffix (.mp3, .wav, .flac"),
        (["-f", "wav", "-o", "x.mp3"],
         "Invalid value for --format: --format wav does not match the output suffix .mp3"),
        (["--sentence-pause", "-1", "-o", "x.mp3"],
         "Invalid value for '--sentence-pause': -1.0 is not in the range 0<=x<=60."),
        (["--paragraph-pause", "soon", "-o", "x.mp3"],
         "Invalid value for '--paragraph-pause': 'soon' is not a valid float range."),
        (["--bitrate", "lots", "-o", "x.mp3"],
         "Invalid value for --bitrate: bitrate 'lots' is not a number of kbit/s such as 96k"),
        (["--loudness", "0", "-o", "x.mp3"],
         "Invalid value for '--loudness': 0.0 is not in the range -50<=x<=-5."),
        (["--speed", "9", "-o", "x.mp3"],
         "Invalid value for '--speed': 9.0 is not in the range 0.25<=x<=4.0."),
        (["--speed", "nan", "-o", "x.mp3"], "Invalid value for '--speed': 'nan' is not a finite "
                                            "number."),
        (["--sentence-pause", "NaN", "-o", "x.mp3"],
         "Invalid value for '--sentence-pause': 'NaN' is not a finite number."),
        (["--loudness", "nan", "-o", "x.mp3"],
         "Invalid value for '--loudness': 'nan' is not a finite number."),
        (["--true-peak", "nan", "-o", "x.mp3"],
         "Invalid value for '--true-peak': 'nan' is not a finite number."),
        (["--bitrate", "9" * 5000, "-o", "x.mp3"],
         "Invalid value for --bitrate: bitrate '99999999999999999999...' is not a number of "
         "kbit/s such as 96k"),
        (["--frobnicate", "-o", "x.mp3"], "No such option '--frobnicate'."),
    ],
)  # fmt: skip
def test_read_bad_options(fake_voice: str, story: Path, args: list[str], message: str):
    result = invoke(["read", "story.txt", "-v", fake_voice, *args])
    assert_usage_error(result, message)
    assert sorted(p.name for p in story.parent.iterdir()) == ["story.txt"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--bitrate", "999k"], "MP3 has no bitrate of 999 kbit/s; the nearest is 320 (all: 32, "
                                "40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)"),
        (["--bitrate", "8"], "MP3 has no bitrate of 8 kbit/s; the nearest is 32 (all: 32, "),
        (["--bitrate", "100"], "MP3 has no bitrate of 100 kbit/s; the nearest are 96 and 112 "),
        (["--bitrate", "8", "-f", "ogg", "-o", "x.ogg"],
         "ogg bitrate must be between 32 and 192 kbit/s, not 8"),
        (["--bitrate", "300", "-f", "opus", "-o", "x.opus"],
         "opus bitrate must be between 6 and 256 kbit/s, not 300"),
        (["--loudness", "-10", "--true-peak", "-12"],
         "loudness -10 LUFS cannot be above the true-peak ceiling -12 dBTP"),
    ],
)  # fmt: skip
def test_read_option_values_that_do_not_fit(fake_voice: str, story: Path, args, message: str):
    output = [] if "-o" in args else ["-o", "x.mp3"]
    result = invoke(["read", "story.txt", "-v", fake_voice, *output, *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"narrator: error: {message}")
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in story.parent.iterdir()) == ["story.txt"]


def test_a_vorbis_bitrate_the_voice_rate_cannot_take_says_what_was_used(
    fake_voice: str, story: Path
):
    from narrator.encode import _say_vorbis_cap

    _say_vorbis_cap.cache_clear()
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "x.ogg", "--bitrate", "128"])
    assert result.exit_code == 0, result.output
    assert (f"narrator: WARNING: Ogg Vorbis at {SAMPLE_RATE} Hz takes at most 80 kbit/s; "
            "using that instead of 128\n") in result.stderr  # fmt: skip
    assert result.stderr.count("WARNING") == 1  # once, though the excerpt is encoded too
    assert sf.info(str(story.parent / "x.ogg")).duration > 1
    quiet = invoke(["read", "story.txt", "-v", fake_voice, "-o", "y.ogg"])
    assert quiet.exit_code == 0 and "WARNING" not in quiet.stderr


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (None, "unknown engine 'nonesuch'; known engines: "),
        ("missing.onnx", "voice 'broken': model file missing.onnx does not exist"),
        ("empty-folder", "empty-folder: expected exactly one .onnx voice in this folder"),
        ("lonely.onnx", "lonely.onnx: its config lonely.onnx.json is not beside it"),
    ],
)  # fmt: skip
def test_an_unknown_or_broken_voice_is_exit_3(story: Path, model: str | None, message: str):
    (story.parent / "empty-folder").mkdir()
    (story.parent / "lonely.onnx").write_bytes(b"not really a model")
    engine = 'engine = "nonesuch"' if model is None else 'engine = "piper"'
    (story.parent / "broken.toml").write_text(
        f'name = "broken"\n{engine}\nmodel = "{model or "m"}"\nlanguage = "en_US"\n'
        'description = "a broken voice"\n'
    )
    result = invoke(["read", "story.txt", "-v", "broken.toml", "-o", "x.wav"])
    assert result.exit_code == 3
    assert result.stderr.startswith("narrator: error: ")
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (story.parent / "x.wav").exists()


def test_json_of_a_silent_narration_is_strict_json(story: Path, user_dirs: Path):
    """Silence measures -inf LUFS, which JSON cannot hold: it is null."""
    import numpy as np

    from narrator.engines import register_engine, unregister_engine

    from .fake_engine import FakeEngine

    class Silent(FakeEngine):
        def synthesize(self, text: str) -> np.ndarray:
            return np.zeros(SAMPLE_RATE, dtype=np.float32)

    register_engine("silent", Silent)
    (user_dirs / "silent.toml").write_text(
        'name = "silent"\nengine = "silent"\nmodel = "m"\nlanguage = "en"\ndescription = "d"\n'
    )
    try:
        result = invoke(["read", "story.txt", "-v", "silent", "-o", "x.wav", "--json", "-q"])
    finally:
        unregister_engine("silent")
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    summary = json.loads(result.stdout, parse_constant=refuse)
    assert summary["loudness"] is None
    assert summary["duration"] > 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "missing.txt: no such file"),
        # Found only once the model is loading on its thread: the process still
        # exits with the one line (not aborted in the middle of ONNX Runtime's set-up).
        # These two start loading the default voice (slow).
        pytest.param("empty.txt", b"  \n", "empty.txt: is empty; there is nothing to narrate",
                     marks=pytest.mark.slow),
        pytest.param("binary.txt", bytes(range(256)) * 4, "binary.txt: looks like a binary file",
                     marks=pytest.mark.slow),
    ],
    ids=["missing", "empty", "binary"],
)  # fmt: skip
def test_console_script_reports_errors_without_traceback(
    tmp_path: Path, name: str, content: bytes | None, message: str
):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    exe = shutil.which("narrator")
    command = [exe] if exe else [sys.executable, "-m", "narrator"]
    done = subprocess.run(
        [*command, "read", name, "-o", "x.mp3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    assert done.returncode == 2
    assert done.stderr.startswith(f"narrator: error: {message}")
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""
    assert not (tmp_path / "x.mp3").exists()


# read: a run that fails part-way leaves nothing behind and never harms an existing file.


@pytest.mark.parametrize("suffix", ["wav", "mp3"])
@pytest.mark.parametrize("fail_on", [1, 3, 4])
def test_failed_run_leaves_no_output(failing_voice, story: Path, monkeypatch, suffix, fail_on):
    monkeypatch.setattr(failing_voice, "fail_on", fail_on)
    result = invoke(["read", "story.txt", "-v", "failing", "-o", f"out.{suffix}"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"narrator: error: the failing engine failed on call {fail_on} on purpose\n"
    )
    assert sorted(p.name for p in story.parent.iterdir()) == ["story.txt"]


def test_failed_run_keeps_an_existing_file(failing_voice, story: Path):
    existing = story.parent / "out.mp3"
    existing.write_bytes(b"an earlier narration \x00\xff" * 100)
    before = existing.read_bytes()
    result = invoke(["read", "story.txt", "-v", "failing", "-o", "out.mp3"])
    assert result.exit_code == 1
    assert existing.read_bytes() == before
    assert sorted(p.name for p in story.parent.iterdir()) == ["out.mp3", "story.txt"]


def test_interrupted_run_keeps_an_existing_file(failing_voice, story: Path, monkeypatch):
    monkeypatch.setattr(failing_voice, "raises", KeyboardInterrupt)
    existing = story.parent / "out.wav"
    existing.write_bytes(b"an earlier narration")
    result = invoke(["read", "story.txt", "-v", "failing", "-o", "out.wav"])
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr == "narrator: interrupted\n"
    assert existing.read_bytes() == b"an earlier narration"
    assert sorted(p.name for p in story.parent.iterdir()) == ["out.wav", "story.txt"]
