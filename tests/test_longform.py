"""Long-form production: resuming after ``kill -9``, parallel jobs, chapters, subtitles,
the JSON summary and the other formats.

The real joe voice runs where the behaviour depends on a real model: killing and resuming,
parallel workers, chapter and cue timing against what is heard.  Piper's noise is random
on every run, so sample equality is proven with a deterministic preset of the same model
(``noise_scale = 0``, ``noise_w_scale = 0``), and with joe's default settings the test
checks that every clip made before the kill is reused.  Each test or module gets its own
cache folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator import narrate
from narrator.cache import CACHE_DIR_ENV, ClipCache
from narrator.cli import cli
from narrator.pipeline import Narration
from narrator.rendering import DEFAULT_LEAD_IN, DEFAULT_LOUDNESS, Rendering
from narrator.tags import read_chapters
from narrator.text import Kind

from .audio import (
    SILENCE_DB,
    Decoded,
    decode,
    decode_ffmpeg,
    ebur128,
    narrator_script,
    rms_envelope_db,
    speech_gaps,
)
from .fake_engine import FakeEngine

DETERMINISTIC_PRESET = """\
name = "steady-joe"
engine = "piper"
model = "en_US-joe-medium"
language = "en_US"
description = "joe without Piper's random noise: the same text always gives the same samples"

[options]
noise_scale = 0
noise_w_scale = 0
"""

SHORT_SENTENCES = [
    "The red fox ran home.", "A small boat sailed east.", "Rain fell on the roof.",
    "The bell rang twice.", "Birds sang in the trees.", "She opened the old door.",
    "The lamp burned low.", "Snow covered the hills.", "He found a silver key.",
    "The river ran fast.", "A dog barked at night.", "The bread was warm.",
    "Wind moved the curtains.", "The clock struck nine.", "They walked to the shore.",
    "A train passed the farm.", "The garden was quiet.", "Stars filled the sky.",
    "The letter arrived late.", "Morning came at last.",
]  # fmt: skip
SHORT_TEXT = "\n\n".join(" ".join(SHORT_SENTENCES[i : i + 5]) for i in range(0, 20, 5)) + "\n"

HEADINGS = ["The First Door", "The Second Door", "The Third Door"]
CHAPTER_SENTENCES = [
    ["The hall was long and dark.", "A single lamp burned at the end."],
    ["Behind it lay a garden.", "The roses were still in bloom."],
    ["The last room was empty.", "Only a chair stood by the window."],
]
BOOK = "".join(
    f"# {heading}\n\n{' '.join(sentences)}\n\n"
    for heading, sentences in zip(HEADINGS, CHAPTER_SENTENCES, strict=True)
)
"""Three chapters, no commas (a comma leaves a silence of its own that counts as a pause)."""
SPOKEN = [line for h, s in zip(HEADINGS, CHAPTER_SENTENCES, strict=True) for line in [h, *s]]
AUTHOR = "Ann Author"

CHAPTER_LEAD_MAX = 0.5
"""A chapter starts at most this many seconds before its heading is spoken."""

CUE_TOLERANCE = 0.05
LOUDNESS_TOLERANCE = 1.0


@pytest.fixture(scope="module")
def voices_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """User presets for this module: only the deterministic joe."""
    folder = tmp_path_factory.mktemp("longform-voices")
    (folder / "steady-joe.toml").write_text(DETERMINISTIC_PRESET)
    return folder


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip cache the module's joe narrations of :data:`BOOK` share (so joe speaks it once)."""
    return tmp_path_factory.mktemp("longform-cache")


def environment(voices_dir: Path, cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"NARRATOR_VOICES_DIR": str(voices_dir), CACHE_DIR_ENV: str(cache)})
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, object]:
    """``narrator read ARGS --json`` as a process; its JSON summary."""
    done = subprocess.run(
        [narrator_script(), "read", *args, "--json", "-q"], cwd=cwd, env=env,
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    summary = json.loads(done.stdout)
    assert isinstance(summary, dict)
    return summary


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False, env=env)


def clip_files(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((cache / "clips").rglob("*.clip"))}


def clip_count(cache: Path) -> int:
    return sum(1 for _ in (cache / "clips").rglob("*.clip")) if (cache / "clips").is_dir() else 0


def kill_after(process: subprocess.Popen[bytes], cache: Path, clips: int) -> int:
    """SIGKILL *process* once *clips* clips are in *cache*; the clips there after it died."""
    deadline = time.monotonic() + 240
    while clip_count(cache) < clips:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"narrator ended (exit {process.returncode}) before it could be "
                        f"killed:\n{err.decode(errors='replace')}")  # fmt: skip
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{clips} clips never appeared in {cache}")
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return clip_count(cache)


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [narrator_script(), "read", *args, "-q"], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def pcm(path: Path) -> np.ndarray:
    """The 16-bit samples of a WAV file, exactly as written."""
    audio, _ = sf.read(path, dtype="int16")
    return audio


def gaps(decoded: Decoded, min_gap: float = 0.3) -> list[tuple[float, float]]:
    """The pauses in *decoded*, with frames of a whole number of samples (a 10 ms frame is
    220.5 samples at 22 050 Hz; rounded to 220, its times would drift 0.23 %)."""
    frame = round(0.010 * decoded.rate) / decoded.rate
    return speech_gaps(decoded.audio, decoded.rate, min_gap=min_gap, frame=frame)


# Kill -9 and resume


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path, voices_dir: Path):
    (tmp_path / "book.txt").write_text(SHORT_TEXT)
    cache = tmp_path / "cache"
    env = environment(voices_dir, cache)
    args = ["book.txt", "-v", "steady-joe", "-o", "book.wav"]
    out = tmp_path / "book.wav"

    at_first_kill = kill_after(start(args, tmp_path, env), cache, 5)
    assert 5 <= at_first_kill < len(SHORT_SENTENCES), "killed too late to test resuming"
    assert not out.exists()
    # Nothing is left beside the output, not even a hidden temporary file: that is
    # only made when the audio is written, after the last sentence.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.txt", "cache"]

    out.write_bytes(b"RIFF an earlier narration, finished")
    at_second_kill = kill_after(start(args, tmp_path, env), cache, at_first_kill + 3)
    assert at_second_kill < len(SHORT_SENTENCES), "killed too late to test resuming"
    assert out.read_bytes() == b"RIFF an earlier narration, finished"

    resumed = run(args, tmp_path, env)
    assert resumed["sentences"] == len(SHORT_SENTENCES)
    assert resumed["cache_hits"] == at_second_kill
    assert resumed["synthesized"] == len(SHORT_SENTENCES) - at_second_kill

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "book.txt").write_text(SHORT_TEXT)
    whole = run(args, fresh, environment(voices_dir, fresh / "cache"))
    assert (whole["synthesized"], whole["cache_hits"]) == (len(SHORT_SENTENCES), 0)
    assert resumed["duration"] == whole["duration"]
    np.testing.assert_array_equal(pcm(out), pcm(fresh / "book.wav"))


@pytest.mark.slow
def test_sigkill_with_piper_noise_reuses_every_clip_made(tmp_path: Path, voices_dir: Path):
    (tmp_path / "book.txt").write_text(SHORT_TEXT)
    cache = tmp_path / "cache"
    env = environment(voices_dir, cache)
    args = ["book.txt", "-o", "book.mp3"]  # joe, with Piper's random noise

    kill_after(start(args, tmp_path, env), cache, 5)
    made = clip_files(cache)
    assert 5 <= len(made) < len(SHORT_SENTENCES), "killed too late to test resuming"
    assert not (tmp_path / "book.mp3").exists()

    summary = run(args, tmp_path, env)
    total = summary["sentences"]
    assert total == len(SHORT_SENTENCES)
    # Every sentence is different, so exactly the clips made before the kill are hits.
    assert summary["cache_hits"] >= len(made)
    assert summary["cache_hits"] == len(made)
    assert summary["synthesized"] == total - summary["cache_hits"]
    after = clip_files(cache)
    assert {name: after[name] for name in made} == made, "a clip made before the kill changed"
    assert len(after) == total


# Parallel jobs


@pytest.mark.slow
def test_two_jobs_give_the_same_samples_as_one(tmp_path: Path, voices_dir: Path):
    summaries = {}
    for jobs in (1, 2):
        folder = tmp_path / f"jobs{jobs}"
        folder.mkdir()
        (folder / "book.txt").write_text(SHORT_TEXT)
        summaries[jobs] = run(["book.txt", "-v", "steady-joe", "-o", "book.wav", "-j", str(jobs)],
                              folder, environment(voices_dir, folder / "cache"))  # fmt: skip
        assert summaries[jobs]["synthesized"] == len(SHORT_SENTENCES)
    assert summaries[1]["duration"] == summaries[2]["duration"]
    np.testing.assert_array_equal(
        pcm(tmp_path / "jobs2/book.wav"), pcm(tmp_path / "jobs1/book.wav")
    )


LONG_SENTENCE = ("The keeper wrote the date and the weather and the names of every ship "
                 "that passed the point into the log.")  # fmt: skip


def test_two_jobs_give_the_same_samples_as_one_with_the_fake_engine(
    fake_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Long sentences are cut into chunks for an engine with a limit: those must stay in order.
    monkeypatch.setattr(FakeEngine, "max_chars", 40)
    text = f"# Log\n\n{SHORT_TEXT}\n{LONG_SENTENCE} {' '.join(SHORT_SENTENCES[:3])}\n"
    serial = narrate(text, tmp_path / "one.wav", voice=fake_voice, cache=False, jobs=1)
    parallel = narrate(text, tmp_path / "three.wav", voice=fake_voice, cache=False, jobs=3)
    assert serial.stats.synthesized == parallel.stats.synthesized > len(serial.segments)
    assert parallel.spans == serial.spans
    np.testing.assert_array_equal(pcm(tmp_path / "three.wav"), pcm(tmp_path / "one.wav"))


# Chapters


@dataclass
class Book:
    folder: Path
    narration: Narration
    """The .m4b narration, through the library."""

    env: dict[str, str]


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory, voices_dir: Path, shared_cache: Path) -> Book:
    """:data:`BOOK` narrated by joe into an .m4b with one file per chapter, via the library."""
    folder = tmp_path_factory.mktemp("book")
    (folder / "book.md").write_text(BOOK)
    narration = narrate(
        BOOK, folder / "book.m4b", voice="joe", rendering=Rendering(tags={"author": AUTHOR}),
        cache=ClipCache(shared_cache), split_chapters=True,
    )  # fmt: skip
    return Book(folder, narration, environment(voices_dir, shared_cache))


@pytest.fixture(scope="module")
def book_mp3(book: Book) -> Path:
    """The same book through the command line, as an MP3 with one file per chapter."""
    result = invoke(["read", str(book.folder / "book.md"), "--voice", "joe",
                     "-o", str(book.folder / "book.mp3"),
                     "--author", AUTHOR, "--split-chapters"], env=book.env)  # fmt: skip
    assert result.exit_code == 0, result.output
    return book.folder / "book.mp3"


def heading_starts(narration: Narration) -> list[float]:
    """Seconds at which each heading starts to be spoken, from the library's spans."""
    rate = narration.sample_rate
    return [
        span.start / rate
        for segment, span in zip(narration.segments, narration.spans, strict=True)
        if segment.kind is Kind.HEADING
    ]


def speech_onset(decoded: Decoded, after: float) -> float:
    """The start of the first 10 ms frame at or after *after* seconds that is speech."""
    size = round(0.010 * decoded.rate)
    levels = rms_envelope_db(decoded.audio, decoded.rate, size / decoded.rate)
    first = int(np.ceil(after * decoded.rate / size))
    loud = np.flatnonzero(levels[first:] >= SILENCE_DB)
    assert len(loud), f"no speech after {after:.2f} s"
    return (first + int(loud[0])) * size / decoded.rate


def snap_slack(narration: Narration, at: float) -> float:
    """How far the pauses before *at* seconds may have moved an MP3's timeline from the
    narration's: each is snapped to the MP3 frame grid by at most half of 576 samples
    (see narrator.pieces), and the moves add up."""
    rate = narration.sample_rate
    return sum(1 for span in narration.spans if span.start / rate < at) * 288 / rate


def assert_chapters_fit_the_speech(
    chapters: list[tuple[str, float, float]], book: Book, decoded: Decoded, snapped: bool = False
) -> None:
    """*chapters* (title, start, end) match *book*'s headings, and the first speech after
    each start in *decoded* is its heading (*snapped*: an MP3, whose pauses may have
    moved by :func:`snap_slack`)."""
    assert [title for title, _, _ in chapters] == HEADINGS
    starts = [start for _, start, _ in chapters]
    assert starts == sorted(set(starts)), f"chapter starts not strictly increasing: {starts}"
    assert starts[0] == 0.0
    for (_, _, end), (_, next_start, _) in zip(chapters, chapters[1:], strict=False):
        assert end == pytest.approx(next_start, abs=0.001)
    assert chapters[-1][2] == pytest.approx(book.narration.duration, abs=0.1)
    spoken = heading_starts(book.narration)
    # The first chapter starts the file; only the lead-in comes before its heading.
    assert spoken[0] == pytest.approx(DEFAULT_LEAD_IN, abs=0.05)

    def slack(heading: float) -> float:
        return snap_slack(book.narration, heading) if snapped else 0.0

    for start, heading in zip(starts[1:], spoken[1:], strict=True):
        assert -slack(heading) < heading - start <= CHAPTER_LEAD_MAX + slack(heading)
    # The same, measured in the audio: the first speech after each chapter mark is its heading.
    for start, heading in zip(starts, spoken, strict=True):
        onset = speech_onset(decoded, start)
        assert onset == pytest.approx(heading, abs=0.03 + slack(heading))
        assert onset - start <= (DEFAULT_LEAD_IN if start == 0.0 else CHAPTER_LEAD_MAX) + 0.05


@pytest.mark.slow
def test_m4b_chapters_read_back_with_mutagen(book: Book):
    from mutagen.mp4 import MP4

    path = book.folder / "book.m4b"
    expected = [(c.title, c.start, c.end) for c in book.narration.chapters]
    found = read_chapters(path)
    assert len(found) == len(expected) == 3
    for (title, start, end), (want_title, want_start, want_end) in zip(
        found, expected, strict=True
    ):
        assert title == want_title
        assert start == pytest.approx(want_start, abs=0.001)
        assert end == pytest.approx(want_end, abs=0.1)
    raw = MP4(path).chapters
    assert raw is not None
    assert [(c.title, round(c.start, 3)) for c in raw] == [(t, round(s, 3)) for t, s, _ in found]
    assert_chapters_fit_the_speech(found, book, decode_ffmpeg(path))


@pytest.mark.slow
def test_m4b_tags(book: Book):
    from mutagen.mp4 import MP4

    tags = MP4(book.folder / "book.m4b").tags
    assert tags is not None
    assert tags["©nam"] == [HEADINGS[0]]
    assert AUTHOR in tags.get("©ART", []) + tags.get("aART", [])
    assert tags["©wrt"] == ["joe"]
    assert book.narration.voice.name == "joe"


@pytest.mark.slow
def test_mp3_chapter_frames(book: Book, book_mp3: Path):
    from mutagen.id3 import ID3

    tags = ID3(book_mp3)
    chaps = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    (toc,) = tags.getall("CTOC")
    assert sorted(toc.child_element_ids) == sorted(c.element_id for c in chaps)
    assert [c.element_id for c in chaps] == list(toc.child_element_ids)
    found = [(str(c.sub_frames["TIT2"]), c.start_time / 1000, c.end_time / 1000) for c in chaps]
    assert read_chapters(book_mp3) == found
    # The clips come from the cache, so the MP3's chapters are the .m4b's, except that
    # the MP3's pauses are snapped to its frame grid (by at most half of 576 samples
    # each; see narrator.pieces) and the .m4b's are not.
    for (title, start, _), chapter in zip(found, book.narration.chapters, strict=True):
        slack = 0.001 + snap_slack(book.narration, chapter.start)
        assert (title, start) == (chapter.title, pytest.approx(chapter.start, abs=slack))
    assert_chapters_fit_the_speech(found, book, decode(book_mp3), snapped=True)
    assert tags["TIT2"].text == [HEADINGS[0]]
    assert tags["TXXX:NARRATOR"].text == ["joe"]
    assert AUTHOR in tags["TCOM"].text


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["m4b", "mp3"])
def test_split_chapters(book: Book, book_mp3: Path, suffix: str):
    whole = book.folder / f"book.{suffix}"
    parts = sorted(book.folder.glob(f"book-*.{suffix}"))
    assert [p.name for p in parts] == [
        f"book-{n:02d}-{title.replace(' ', '-')}.{suffix}" for n, title in enumerate(HEADINGS, 1)
    ]
    durations = [decode_ffmpeg(p).duration for p in parts]
    assert sum(durations) == pytest.approx(decode_ffmpeg(whole).duration, abs=0.2)
    for part, chapter, seconds in zip(parts, book.narration.chapters, durations, strict=True):
        assert seconds == pytest.approx(chapter.end - chapter.start, abs=0.1)
        meter = ebur128(part)
        assert meter.integrated == pytest.approx(DEFAULT_LOUDNESS, abs=1.5), part.name
        assert meter.true_peak < -2.0, part.name


# Subtitles


def parse_cues(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue in an SRT or WebVTT file."""
    clock = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"
    found = re.findall(rf"{clock} --> {clock}\n(.+)", text)

    def seconds(h: str, m: str, s: str, ms: str) -> float:
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    return [(seconds(*c[0:4]), seconds(*c[4:8]), c[8]) for c in found]


@pytest.mark.slow
@pytest.mark.parametrize("audio, subtitles", [("wav", "srt"), ("mp3", "vtt")])
def test_subtitles_are_timed_to_the_pauses(book: Book, audio: str, subtitles: str):
    out, cues_path = book.folder / f"timed.{audio}", book.folder / f"timed.{subtitles}"
    result = invoke(["read", str(book.folder / "book.md"), "--voice", "joe", "-o", str(out),
                     "--subtitles", str(cues_path), "--json"], env=book.env)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    text = cues_path.read_text("utf-8")
    if subtitles == "srt":
        assert text.startswith("1\n00:00:00,")
    else:
        assert text.startswith("WEBVTT\n\n00:00:00.")
    cues = parse_cues(text)
    assert len(cues) == summary["sentences"] == len(SPOKEN)
    assert [cue_text for _, _, cue_text in cues] == SPOKEN
    for start, end, _ in cues:
        assert start < end

    measured = gaps(decode(out))
    assert len(measured) == len(cues) - 1, measured
    for (gap_start, gap), (_, end, _), (start, _, _) in zip(measured, cues, cues[1:], strict=False):
        assert gap == pytest.approx(start - end, abs=CUE_TOLERANCE)
        assert gap_start == pytest.approx(end, abs=CUE_TOLERANCE)
        assert gap_start + gap == pytest.approx(start, abs=CUE_TOLERANCE)


def test_subtitles_need_srt_or_vtt(fake_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("One. Two.")
    result = CliRunner().invoke(cli, ["read", "in.txt", "-v", "fake", "-o", "out.wav",
                                      "--subtitles", "out.txt"])  # fmt: skip
    assert result.exit_code != 0
    assert "subtitles must be a .srt or .vtt file" in result.output
    assert not (tmp_path / "out.wav").exists()


# The JSON summary


def test_json_summary(fake_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.md").write_text(BOOK)
    result = invoke(["read", "in.md", "-v", "fake", "-o", "out.mp3", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["output"] == "out.mp3"
    assert isinstance(summary["duration"], float) and summary["duration"] > 0
    assert summary["duration"] == pytest.approx(sf.info(tmp_path / "out.mp3").duration, abs=0.1)
    assert summary["sentences"] == len(SPOKEN)
    assert (summary["synthesized"], summary["cache_hits"]) == (len(SPOKEN), 0)
    assert summary["chapters"] == 3
    assert isinstance(summary["rtf"], float) and summary["rtf"] > 0
    assert summary["voice"] == "fake"
    assert "narrator: wrote out.mp3" in result.stderr


def test_json_needs_an_output_file(fake_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.md").write_text(BOOK)
    result = invoke(["read", "in.md", "-v", "fake", "-o", "-", "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error: --json prints the summary on stdout, so it needs -o FILE" in result.stderr
    assert FakeEngine.calls == []


# More formats


@pytest.mark.slow
@pytest.mark.parametrize("suffix, rate", [("ogg", 22_050), ("opus", 48_000), ("m4a", 22_050)])
def test_more_formats(book: Book, suffix: str, rate: int):
    out = book.folder / f"formats.{suffix}"
    result = invoke(["read", str(book.folder / "book.md"), "--voice", "joe", "-o", str(out),
                     "--json"], env=book.env)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    decoded = decode_ffmpeg(out)
    assert decoded.rate == rate
    assert decoded.duration == pytest.approx(summary["duration"], abs=0.1)
    meter = ebur128(out)
    assert meter.integrated == pytest.approx(DEFAULT_LOUDNESS, abs=LOUDNESS_TOLERANCE)
    assert meter.true_peak < -2.0
    assert len(gaps(decoded)) == len(SPOKEN) - 1
