"""End to end with the real joe voice: the ``narrator`` console script writes a file,
and independent tools decode it and measure rate, length, loudness, peaks and pauses."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from narrator.rendering import (
    DEFAULT_HEADING_PAUSE,
    DEFAULT_LEAD_IN,
    DEFAULT_LOUDNESS,
    DEFAULT_TAIL,
)

from .audio import (
    SILENCE_DB,
    Decoded,
    decode,
    ebur128,
    integrated_loudness,
    is_mp3_start,
    narrator_script,
    speech_gaps,
)

pytestmark = pytest.mark.slow

TITLE = "The Lighthouse"
STORY = f"""\
# {TITLE}

The old keeper climbed the stairs every evening. He lit the lamp before the sun went down.

Ships passed the rocky point in safety. Sailors waved from the decks.

One winter night the storm was fierce. The light kept shining until morning.
"""

JOE_RATE = 22_050
MP3_RATE = 44_100
"""MP3 is written at 44.1 kHz (MPEG-1) from narrations at lower rates."""
SENTENCE_PAUSE = 0.5
PARAGRAPH_PAUSE = 1.2
HEADING_PAUSE = max(DEFAULT_HEADING_PAUSE, PARAGRAPH_PAUSE)
EXPECTED_PAUSES = [
    HEADING_PAUSE,  # after "The Lighthouse"
    SENTENCE_PAUSE,
    PARAGRAPH_PAUSE,
    SENTENCE_PAUSE,
    PARAGRAPH_PAUSE,
    SENTENCE_PAUSE,
]
"""The pause after each segment but the last, in order."""

PAUSE_TOLERANCE = 0.1
LOUDNESS_TOLERANCE = 1.0

MIN_GAP = SENTENCE_PAUSE / 2
"""Joe's speech holds silences of its own at stop consonants, up to about 0.12 s at
-45 dBFS; half the shortest pause asked for counts only real pauses.  (A comma can
leave 0.4 s, so the story has none.)"""

READ = ["read", "in.md", "--voice", "joe", "--sentence-pause", str(SENTENCE_PAUSE),
        "--paragraph-pause", str(PARAGRAPH_PAUSE)]  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("end-to-end")
    (folder / "in.md").write_text(STORY)
    return folder


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the child process, with an empty user preset folder."""
    env = dict(os.environ)
    env["NARRATOR_VOICES_DIR"] = str(tmp_path_factory.mktemp("no-user-voices"))
    return env


def run(
    args: list[str], workdir: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [narrator_script(), *args], cwd=workdir, env=environment, capture_output=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done


def word_count(text: str) -> int:
    return len(text.replace("#", " ").split())


def assert_sane_duration(seconds: float) -> None:
    """Lead-in, tail and pauses, plus 0.2 to 0.7 s for every word spoken."""
    fixed = DEFAULT_LEAD_IN + DEFAULT_TAIL + sum(EXPECTED_PAUSES)
    words = word_count(STORY)
    assert fixed + 0.2 * words < seconds < fixed + 0.7 * words


def assert_pauses(decoded: Decoded, loudness: float = DEFAULT_LOUDNESS) -> None:
    """The pauses are the ones asked for.  The silence threshold follows the loudness
    target, so that soft onsets of a quieter narration do not lengthen the gaps."""
    threshold = SILENCE_DB + loudness - DEFAULT_LOUDNESS
    gaps = speech_gaps(decoded.audio, decoded.rate, threshold_db=threshold, min_gap=MIN_GAP)
    measured = [round(duration, 3) for _, duration in gaps]
    assert len(gaps) == len(EXPECTED_PAUSES), f"gaps {gaps}, expected {EXPECTED_PAUSES}"
    for got, asked in zip(measured, EXPECTED_PAUSES, strict=True):
        assert got == pytest.approx(asked, abs=PAUSE_TOLERANCE), (measured, EXPECTED_PAUSES)


def assert_levels(path: Path, decoded: Decoded, loudness: float, true_peak: float) -> None:
    assert integrated_loudness(decoded.audio, decoded.rate) == pytest.approx(
        loudness, abs=LOUDNESS_TOLERANCE
    )
    meter = ebur128(path)
    assert meter.integrated == pytest.approx(loudness, abs=LOUDNESS_TOLERANCE)
    assert meter.true_peak < true_peak


@pytest.fixture(scope="module")
def mp3(workdir: Path, environment: dict[str, str]) -> Path:
    done = run([*READ, "-o", "out.mp3"], workdir, environment)
    assert done.stdout == b""
    assert b"wrote out.mp3" in done.stderr
    return workdir / "out.mp3"


@pytest.fixture(scope="module")
def mp3_decoded(mp3: Path) -> Decoded:
    return decode(mp3)


def test_mp3_decodes_at_44_1_khz(mp3_decoded: Decoded) -> None:
    other = mp3_decoded.cross_check
    assert other is not None and other.decoder == "soundfile"
    assert mp3_decoded.rate == other.rate == MP3_RATE
    assert abs(mp3_decoded.duration - other.duration) <= 0.05
    assert_sane_duration(mp3_decoded.duration)


def test_mp3_loudness_and_true_peak(mp3: Path, mp3_decoded: Decoded) -> None:
    assert_levels(mp3, mp3_decoded, loudness=-18.0, true_peak=-2.0)


def test_mp3_pauses_are_the_ones_asked_for(mp3_decoded: Decoded) -> None:
    assert_pauses(mp3_decoded)


def test_mp3_tags(mp3: Path) -> None:
    from mutagen.id3 import ID3

    tags = ID3(mp3)
    assert tags["TIT2"].text == [TITLE]
    assert tags["TPE1"].text == ["joe"]


def test_flac_with_other_targets(workdir: Path, environment: dict[str, str]) -> None:
    args = [*READ, "--loudness", "-23", "--true-peak", "-3", "--format", "flac", "-o", "out.flac"]
    run(args, workdir, environment)
    path = workdir / "out.flac"
    decoded = decode(path)
    assert decoded.rate == JOE_RATE
    assert_sane_duration(decoded.duration)
    assert_levels(path, decoded, loudness=-23.0, true_peak=-3.0)
    assert_pauses(decoded, loudness=-23.0)

    from mutagen.flac import FLAC

    tags = FLAC(path)
    assert tags["TITLE"] == [TITLE]
    assert tags["ARTIST"] == ["joe"]


def test_wav(workdir: Path, environment: dict[str, str]) -> None:
    run([*READ, "-o", "out.wav"], workdir, environment)
    path = workdir / "out.wav"
    decoded = decode(path)
    assert decoded.rate == JOE_RATE
    assert_sane_duration(decoded.duration)
    assert_levels(path, decoded, loudness=-18.0, true_peak=-2.0)
    assert_pauses(decoded)

    from mutagen.wave import WAVE

    tags = WAVE(path).tags
    assert tags is not None
    assert tags["TIT2"].text == [TITLE]
    assert tags["TPE1"].text == ["joe"]


def test_pipeline_from_stdin_to_stdout(workdir: Path, environment: dict[str, str]) -> None:
    script = shlex.quote(narrator_script())
    pipeline = f"cat in.md | {script} read - -o - > piped.mp3"
    done = subprocess.run(
        pipeline, shell=True, cwd=workdir, env=environment, capture_output=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"wrote standard output" in done.stderr
    data = (workdir / "piped.mp3").read_bytes()
    assert is_mp3_start(data), data[:16]
    assert b"narrator:" not in data

    decoded = decode(workdir / "piped.mp3")
    assert decoded.cross_check is not None
    assert decoded.rate == decoded.cross_check.rate == MP3_RATE
    assert abs(decoded.duration - decoded.cross_check.duration) <= 0.05
    assert_sane_duration(decoded.duration)
    assert integrated_loudness(decoded.audio, decoded.rate) == pytest.approx(
        -18.0, abs=LOUDNESS_TOLERANCE
    )

    from mutagen.id3 import ID3

    assert ID3(workdir / "piped.mp3")["TIT2"].text == [TITLE]
