"""Synthesis under adversity: segments far longer than a chunk, engines that give bad
clips or raise, wrong engine options, and worker processes whose parent is killed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator import narrate
from narrator.cache import ClipCache
from narrator.cli import cli
from narrator.engines import load_engine, register_engine, unregister_engine
from narrator.errors import EngineError, VoiceError
from narrator.synthesis import Synthesizer
from narrator.voices import load_voice

from .conftest import FAKE_PRESET
from .fake_engine import (
    SAMPLE_RATE,
    AlwaysNaNEngine,
    DyingEngine,
    FakeEngine,
    FirstNaNEngine,
    SpoilingEngine,
    UnloadableEngine,
    expected_speech_seconds,
)

ROOT = Path(__file__).resolve().parent.parent

TEXT = "The lamp was cold. Nobody had lit it in years. Then the machine began to read."
SENTENCES = ["The lamp was cold.", "Nobody had lit it in years.", "Then the machine began to read."]


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def assert_one_line_error(result: Result, code: int, *parts: str) -> None:
    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("narrator: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


@pytest.fixture
def use_engine(user_dirs: Path, monkeypatch: pytest.MonkeyPatch):
    """Register an engine class under its name with a user preset of that name; returns
    the preset's name."""
    names: list[str] = []
    monkeypatch.setattr(SpoilingEngine, "made", 0)
    monkeypatch.setattr(FakeEngine, "calls", [])

    def use(engine: type[FakeEngine], options: str = "") -> str:
        register_engine(engine.name, engine)
        preset = FAKE_PRESET.replace('"fake"', f'"{engine.name}"') + options
        (user_dirs / f"{engine.name}.toml").write_text(preset)
        names.append(engine.name)
        return engine.name

    yield use
    for name in names:
        unregister_engine(name)


def samples(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE
    return audio


# A segment far longer than a chunk (item 6): memory is bounded by a chunk.


class CountingEngine(FakeEngine):
    """The fake engine, noting at each call how many of its earlier clips are still alive."""

    name = "counting"
    alive: list[int] = []
    _made: list[weakref.ref] = []

    def synthesize(self, text: str) -> np.ndarray:
        CountingEngine.alive.append(sum(ref() is not None for ref in self._made))
        clip = super().synthesize(text)
        self._made.append(weakref.ref(clip))
        return clip


def test_a_segment_of_many_chunks_is_stitched_one_chunk_at_a_time(
    use_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(CountingEngine, "alive", [])
    monkeypatch.setattr(CountingEngine, "_made", [])
    monkeypatch.setattr(CountingEngine, "max_chars", 60)
    words = "word " * 600  # one segment: no sentence ends, 3,000 characters
    result = narrate(words, tmp_path / "long.wav", voice=use_engine(CountingEngine), cache=False)
    assert len(result.segments) == 1 and len(CountingEngine.alive) >= 50
    # Each clip is stitched and let go before the next chunk is spoken: at no time are
    # the segment's clips held together (before: 49 of 50 at the last call).
    assert max(CountingEngine.alive) <= 2
    expected = expected_speech_seconds(words.strip().replace(" ", ""))  # the fake speaks
    assert samples(tmp_path / "long.wav").size / SAMPLE_RATE > expected  # every letter


def test_the_synthesizer_hands_on_a_clip_before_speaking_the_next_chunk(fake_voice):
    voice = load_voice(fake_voice)
    synthesizer = Synthesizer(voice, engine=load_engine(voice))
    clips = synthesizer.clips([[f"Chunk number {n}." for n in range(30)], ["Next."]])
    first = next(clips)
    assert FakeEngine.calls == ["Chunk number 0."]
    assert len(first) > 0 and len(list(clips)) == 30


def test_a_word_longer_than_the_engine_limit_is_broken_at_the_limit(
    use_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(CountingEngine, "max_chars", 200)
    word = "abcdefghij" * 300  # one 3,000-character word
    narrate(word, tmp_path / "word.wav", voice=use_engine(CountingEngine), cache=False)
    assert len(FakeEngine.calls) >= 15 and all(len(c) <= 200 for c in FakeEngine.calls)
    assert "".join(FakeEngine.calls).rstrip(".") == word  # with the full stop it is given


def test_piper_is_given_at_most_400_characters_at_a_time(tmp_path: Path):
    story = tmp_path / "page.txt"
    story.write_text("alpha beta gamma delta epsilon zeta eta theta " * 100)  # no full stop
    result = invoke(["split", str(story), "--json", "-v", "joe"])
    [segment] = json.loads(result.stdout)
    assert len(segment["chunks"]) == 12 and max(map(len, segment["chunks"])) <= 400


# Every clip an engine makes is checked before it is cached or stitched (item 16).


def test_a_clip_with_a_nan_is_made_again(use_engine, fake_voice, tmp_path: Path, caplog):
    clean = narrate(TEXT, tmp_path / "clean.wav", voice=fake_voice, cache=False)
    with caplog.at_level(logging.INFO, logger="narrator.synthesis"):
        again = narrate(TEXT, tmp_path / "again.wav", voice=use_engine(FirstNaNEngine))
    assert "not finite (NaN or infinite) for 'The lamp was cold.': speaking it again" in caplog.text
    np.testing.assert_array_equal(samples(tmp_path / "again.wav"), samples(tmp_path / "clean.wav"))
    assert again.stats.synthesized == clean.stats.synthesized == 3
    # The clip the cache keeps is the good one.
    rerun = narrate(TEXT, tmp_path / "rerun.wav", voice="spoiling")
    assert (rerun.stats.synthesized, rerun.stats.cache_hits) == (0, 3)
    np.testing.assert_array_equal(samples(tmp_path / "rerun.wav"), samples(tmp_path / "clean.wav"))


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        ("nan", "1 of 17600 samples not finite (NaN or infinite)"),
        ("inf", "1 of 17600 samples not finite (NaN or infinite)"),
        ("huge", "1 of 17600 samples not finite (NaN or infinite)"),  # beyond float32
        ("2d", "not a 1-D array of samples (shape (17600, 1))"),
        ("int", "samples of type int16, not floating-point"),
    ],
)
@pytest.mark.parametrize("fmt", ["ogg", "wav"])
def test_an_engine_that_keeps_giving_bad_clips_is_one_clear_error(
    use_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spoil, problem, fmt
):
    monkeypatch.setattr(SpoilingEngine, "spoil", spoil)
    monkeypatch.setattr(SpoilingEngine, "spoiled", 10**9)
    name = use_engine(SpoilingEngine)
    (tmp_path / "story.txt").write_text(TEXT)
    output = tmp_path / f"story.{fmt}"
    result = invoke(["read", str(tmp_path / "story.txt"), "-o", str(output), "--voice", name])
    assert_one_line_error(
        result, 1, f"the spoiling engine gave {problem} for 'The lamp was cold.', 2 times"
    )
    assert not output.exists()
    # Nothing bad was cached: the same text with a sound engine is whole.
    monkeypatch.setattr(SpoilingEngine, "spoiled", 0)
    narrate(TEXT, output, voice=name)
    assert np.isfinite(samples(output)).all() and np.abs(samples(output)).max() > 0.1


def test_a_batching_engine_s_bad_clip_is_made_again(
    use_engine, fake_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(SpoilingEngine, "batch_size", 2)
    clean = narrate(TEXT, tmp_path / "clean.wav", voice=fake_voice, cache=False)
    narrate(TEXT, tmp_path / "batched.wav", voice=use_engine(SpoilingEngine), cache=False)
    np.testing.assert_array_equal(
        samples(tmp_path / "batched.wav"), samples(tmp_path / "clean.wav")
    )
    assert clean.stats.synthesized == 3
    monkeypatch.setattr(SpoilingEngine, "spoiled", 10**9)
    with pytest.raises(EngineError, match=r"gave 1 of \d+ samples not finite .* 2 times"):
        narrate(TEXT, tmp_path / "bad.wav", voice="spoiling", cache=False)


def test_worker_processes_check_their_clips_too(
    use_engine, fake_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    clean = tmp_path / "clean.wav"
    narrate(TEXT, clean, voice=fake_voice, cache=False)
    narrate(TEXT, tmp_path / "jobs.wav", voice=use_engine(FirstNaNEngine), cache=False, jobs=2)
    np.testing.assert_array_equal(samples(tmp_path / "jobs.wav"), samples(clean))
    with pytest.raises(EngineError, match="samples not finite .* 2 times"):
        narrate(TEXT, tmp_path / "bad.wav", voice=use_engine(AlwaysNaNEngine), jobs=2)
    assert not (tmp_path / "bad.wav").exists()
    assert not list((ClipCache().clips).rglob("*.clip"))


def test_a_worker_that_dies_is_one_line(use_engine, tmp_path: Path):
    (tmp_path / "story.txt").write_text(TEXT)
    output = tmp_path / "story.mp3"
    name = use_engine(DyingEngine)
    result = invoke(["read", str(tmp_path / "story.txt"), "-o", str(output), "-v", name,
                     "--jobs", "2"])  # fmt: skip
    assert_one_line_error(result, 1, "a synthesis worker process ended unexpectedly")
    assert not output.exists()


def test_a_cached_clip_that_is_not_finite_counts_as_damaged(fake_voice, tmp_path: Path, caplog):
    first = narrate(TEXT, tmp_path / "first.wav", voice=fake_voice)
    cache = ClipCache()
    paths = sorted(cache.clips.rglob("*.clip"))
    assert len(paths) == 3
    # An older narrator stored a NaN clip, with a valid checksum.
    key = paths[0].stem
    cache.put(key, np.full(1000, np.nan, dtype=np.float32))
    with caplog.at_level(logging.WARNING, logger="narrator.cache"):
        again = narrate(TEXT, tmp_path / "again.wav", voice=fake_voice, cache=cache)
    assert "damaged cache entry" in caplog.text and cache.stats.corrupt == 1
    assert (again.stats.synthesized, again.stats.cache_hits) == (1, 2)
    np.testing.assert_array_equal(samples(tmp_path / "again.wav"), samples(tmp_path / "first.wav"))
    assert first.stats.synthesized == 3
    assert np.isfinite(cache.get(key)).all()  # the entry was made again


# An engine's own exception is a narrator error naming the text (items 13, 16).


@pytest.mark.parametrize("raises", [IndexError, ValueError, MemoryError])
def test_an_engine_exception_is_one_line_naming_the_sentence(
    failing_voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raises
):
    monkeypatch.setattr(failing_voice, "raises", raises)
    (tmp_path / "story.txt").write_text(TEXT)
    output = tmp_path / "story.mp3"
    result = invoke(["read", str(tmp_path / "story.txt"), "-o", str(output), "-v", "failing"])
    assert_one_line_error(
        result, 1, "the failing engine failed on 'Nobody had lit it in years.': ",
        f"{raises.__name__}: the failing engine failed on call 2 on purpose",
    )  # fmt: skip
    assert not output.exists()


def test_an_engine_that_cannot_load_is_one_line(use_engine, tmp_path: Path):
    (tmp_path / "story.txt").write_text(TEXT)
    result = invoke(["read", str(tmp_path / "story.txt"), "-o", str(tmp_path / "x.mp3"),
                     "-v", use_engine(UnloadableEngine)])  # fmt: skip
    assert_one_line_error(
        result, 1, "the unloadable engine cannot load voice 'unloadable': RuntimeError: the "
        "weights are in another castle",
    )  # fmt: skip


# Engine options are checked as the engine loads (items 13, 14, 16).

BAD_NOISE = ['"abc"', "nan", "inf", "-inf", "1e30", "-0.5", "true", "[1]"]


@pytest.mark.parametrize("value", BAD_NOISE)
@pytest.mark.parametrize("key", ["noise_scale", "noise_w_scale"])
def test_piper_options_must_be_sensible_numbers(user_dirs: Path, tmp_path: Path, key, value):
    preset = user_dirs / "noisy.toml"
    preset.write_text(
        'name = "noisy"\nengine = "piper"\nmodel = "en_US-joe-medium"\nlanguage = "en_US"\n'
        f'description = "joe"\n\n[options]\n{key} = {value}\n'
    )
    with pytest.raises(VoiceError) as error:
        load_engine(load_voice("noisy"))
    assert str(error.value).startswith(f"{preset}: [options] {key} must be a number from 0 to 2")
    (tmp_path / "story.txt").write_text(TEXT)
    result = invoke(["read", str(tmp_path / "story.txt"), "-o", str(tmp_path / "x.mp3"),
                     "-v", "noisy"])  # fmt: skip
    assert_one_line_error(result, 3, f"{preset}: [options] {key} must be a number from 0 to 2")
    assert not (tmp_path / "x.mp3").exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("noise_scale", "nan", "noise_scale must be a number from 0 to 2, not nan"),
        ("noise_scale_dp", "1e30", "noise_scale_dp must be a number from 0 to 2, not 1e+30"),
        ("temperature", "inf", "temperature must be a number from 0.01 to 2, not inf"),
        ("top_k", "2.5", "top_k must be a whole number from 1 to 1000, not 2.5"),
        ("top_p", "true", "top_p must be a number from 0.01 to 1, not True"),
        ("max_chars", "0", "max_chars must be a whole number from 1 to 100000, not 0"),
    ],
)
def test_coqui_options_must_be_sensible_numbers(user_dirs: Path, key, value, message):
    preset = user_dirs / "odd.toml"
    preset.write_text(
        'name = "odd"\nengine = "coqui"\nmodel = "tts_models/en/ljspeech/vits"\n'
        f'language = "en"\ndescription = "vits"\n\n[options]\n{key} = {value}\n'
    )
    with pytest.raises(VoiceError) as error:
        load_engine(load_voice("odd"), device="cpu")
    assert str(error.value) == f"{preset}: [options] {message}"


@pytest.mark.parametrize("value", ['"many"', "nan", "1e30"])
def test_a_coqui_limit_that_is_not_a_number_is_one_line(user_dirs: Path, tmp_path: Path, value):
    preset = user_dirs / "odd.toml"
    preset.write_text(
        'name = "odd"\nengine = "coqui"\nmodel = "tts_models/en/ljspeech/vits"\n'
        f'language = "en"\ndescription = "vits"\n\n[options]\nmax_chars = {value}\n'
    )
    (tmp_path / "story.txt").write_text(TEXT)
    for command in (["read", "-o", str(tmp_path / "x.mp3")], ["split"]):
        result = invoke([*command, str(tmp_path / "story.txt"), "-v", "odd"])
        assert_one_line_error(result, 3, f"{preset}: [options] max_chars must be a whole number")
    assert not (tmp_path / "x.mp3").exists()


# Workers die with their parent (item 11).

DRIVER = """
import sys
from narrator import narrate
from narrator.engines import register_engine
from narrator.voices import Voice
from tests.fake_engine import SlowEngine

def progress(event):
    if event.done == 20:
        print("working", flush=True)

register_engine("slow", SlowEngine)
voice = Voice("slow", "slow", "tone", "en", "a slow tone")
narrate("A sentence. " * 2000, sys.argv[1], voice=voice, cache=False, jobs=2, progress=progress)
"""


def _children(pid: int) -> list[int]:
    """The processes whose parent is *pid*."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _is_worker(pid: int) -> bool:
    """Whether *pid* is a worker of a process pool (not multiprocessing's resource tracker)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in command and b"resource_tracker" not in command


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_their_parent_is_killed(tmp_path: Path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env["NARRATOR_CACHE_DIR"] = str(tmp_path / "cache")
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path / "book.wav")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers: list[int] = []
    try:
        assert driver.stdout is not None and driver.stdout.readline() == "working\n"
        workers = [pid for pid in _children(driver.pid) if _is_worker(pid)]
        assert len(workers) == 2
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 20
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _running(pid)]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / "book.wav").exists()


WATCHER = """
import os, sys, time
sys.platform = "elsewhere"  # no parent-death signal here: the polling thread instead
from narrator.synthesis import _die_with
_die_with(os.getppid())
print("watching", flush=True)
time.sleep(600)
"""

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "watching\\n"
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_without_a_parent_death_signal_a_worker_polls_for_its_parent():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    parent = subprocess.Popen([sys.executable, "-c", PARENT, WATCHER], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child and _running(child):
            os.kill(child, signal.SIGKILL)
