"""How narrator is packaged and handed over: its PyPI name in every install hint, the
licence in the built files, pydub for people who edit the audio, the M4B brand."""

from __future__ import annotations

import io
import re
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from narrator import DISTRIBUTION, narrate
from narrator.cli import cli
from narrator.engines import COQUI_INSTALL_HINT, coqui
from narrator.errors import OutputError
from narrator.rendering import Rendering
from narrator.tags import read_chapters

from .audio import decode_ffmpeg
from .fake_engine import SAMPLE_RATE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

STORY = """\
# One

The keeper climbed the stairs. The lamp was cold.

# Two

He struck a match. The boats were late.
"""

WRONG_HINT = re.compile(r"""(?<![\w./-])narrator\[[a-z]""")
"""``narrator[coqui]``, ``"narrator[test]"``: the unrelated ``narrator`` project on PyPI.
(``.[coqui]`` installs the checkout, and ``narrator-tts[coqui]`` is ours.)"""


def test_the_distribution_is_narrator_tts():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["name"] == DISTRIBUTION == "narrator-tts"
    assert project["scripts"] == {"narrator": "narrator.cli:main"}
    assert all(extra.startswith("narrator-tts[") or not extra.startswith("narrator")
               for extra in project["optional-dependencies"]["dev"])  # fmt: skip


def test_no_install_hint_names_the_unrelated_narrator_package():
    files = [ROOT / "pyproject.toml", ROOT / "README.md", ROOT / ".ci" / "run"]
    for folder in ("narrator", "tests", "voices", "samples", "benchmarks", "docs"):
        suffixes = (".py", ".toml", ".md", ".sh", ".txt")
        files += [path for path in (ROOT / folder).rglob("*") if path.suffix in suffixes]
    wrong = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        if path.is_file()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
        if WRONG_HINT.search(line) and path != Path(__file__).resolve()
    ]
    assert wrong == []
    assert COQUI_INSTALL_HINT == 'install it with: pip install "narrator-tts[coqui]"'


def test_without_coqui_the_error_names_narrator_tts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # As on a machine where coqui-tts is not installed (CI installs it).
    real = coqui.find_spec
    monkeypatch.setattr(coqui, "find_spec", lambda name: None if name == "TTS" else real(name))
    (tmp_path / "in.txt").write_text("Hello there.\n")
    result = CliRunner().invoke(
        cli, ["read", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.mp3"),
              "--voice", "vctk-p230"], prog_name="narrator",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == (
        "narrator: error: the coqui engine needs the coqui-tts package; "
        'install it with: pip install "narrator-tts[coqui]"'
    )
    assert not (tmp_path / "out.mp3").exists()


def test_the_license_is_in_the_wheel_and_the_sdist(tmp_path: Path):
    pytest.importorskip("hatchling", reason="building needs hatchling (pip install hatchling)")
    from hatchling.builders.sdist import SdistBuilder
    from hatchling.builders.wheel import WheelBuilder

    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 narrator developers\n")
    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        licence = next(n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        assert archive.read(licence).decode("utf-8") == text
    assert "Name: narrator-tts\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "License-File: LICENSE\n" in metadata
    assert Path(wheel).name.startswith("narrator_tts-")
    (sdist,) = SdistBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("/LICENSE") for name in names), names


# pydub


def samples_of(segment) -> np.ndarray:
    return np.asarray(segment.get_array_of_samples(), dtype=np.float64) / 32768


def test_to_audiosegment_holds_the_narration(fake_voice):
    result = narrate(STORY, None, voice=fake_voice)
    segment = result.to_audiosegment()
    assert (segment.frame_rate, segment.channels, segment.sample_width) == (SAMPLE_RATE, 1, 2)
    assert segment.frame_count() == len(result.audio) == round(result.duration * SAMPLE_RATE)
    assert abs(len(segment) - result.duration * 1000) <= 1  # pydub counts milliseconds
    # The same samples, to 16 bits (they were 16-bit in the WAV they came from).
    assert np.max(np.abs(samples_of(segment) - result.audio)) <= 0.5 / 32768
    # And pydub's own measures agree with the samples.
    assert segment.max == int(np.max(np.abs(np.round(result.audio * 32768))))


def test_to_audiosegment_decodes_the_file_written(fake_voice, tmp_path: Path):
    wav = narrate(STORY, tmp_path / "story.wav", voice=fake_voice)
    assert wav.audio is None
    segment = wav.to_audiosegment()
    written, rate = sf.read(tmp_path / "story.wav", dtype="int16")
    assert segment.frame_rate == rate == SAMPLE_RATE
    assert np.array_equal(np.asarray(segment.get_array_of_samples()), written)

    # A lossy file is decoded by ffmpeg, back at the narration's rate.
    mp3 = narrate(STORY, tmp_path / "story.mp3", voice=fake_voice)
    lossy = mp3.to_audiosegment()
    assert lossy.frame_rate == mp3.sample_rate == SAMPLE_RATE
    assert abs(lossy.frame_count() / SAMPLE_RATE - mp3.duration) <= 0.06
    heard = samples_of(lossy)[: len(written)]
    reference = written[: len(heard)] / 32768
    assert np.corrcoef(heard, reference)[0, 1] > 0.95


def test_to_audiosegment_of_a_stream_is_a_clear_error(fake_voice):
    result = narrate("Hello there.", io.BytesIO(), voice=fake_voice)
    with pytest.raises(OutputError, match="went to a stream"):
        result.to_audiosegment()


# M4B


def ftyp(path: Path) -> tuple[str, list[str]]:
    """The major brand and the compatible brands of an MP4 file."""
    data = path.read_bytes()[:64]
    size, kind = struct.unpack(">I4s", data[:8])
    assert kind == b"ftyp"
    major = data[8:12].decode("ascii")
    compatible = [data[i : i + 4].decode("ascii") for i in range(16, size, 4)]
    return major, compatible


def test_m4b_files_carry_the_audiobook_brand(fake_voice, tmp_path: Path):
    book = narrate(STORY, tmp_path / "story.m4b", voice=fake_voice,
                   rendering=Rendering(tags={"title": "A Book"}))  # fmt: skip
    major, compatible = ftyp(book.output)
    assert major == "M4B "
    assert "M4B " in compatible
    # Still a playable MP4 with its tags and chapters.
    assert [c[0] for c in read_chapters(book.output)] == ["One", "Two"]
    assert mutagen.File(book.output).tags["\xa9nam"] == ["A Book"]
    assert abs(decode_ffmpeg(book.output).duration - book.duration) <= 0.1
    # M4A keeps the music brand.
    narrate(STORY, tmp_path / "story.m4a", voice=fake_voice)
    assert ftyp(tmp_path / "story.m4a")[0] == "M4A "
