"""The Coqui engine, through the public paths (``narrate()`` and ``narrator read``), with tiny
random-weight models that coqui's own classes build and save (see ``coqui_models.py``).

Every test runs offline: the network is cut at ``socket.create_connection``, coqui's data
folder and the Hugging Face cache are empty temporary folders, no licence is accepted and
``input()`` fails the test if anything calls it.
"""

from __future__ import annotations

import builtins
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator import narrate
from narrator.cli import cli
from narrator.engines import _BUILTIN, engine_class, load_engine
from narrator.errors import OptionError, VoiceError
from narrator.rendering import DEFAULT_LOUDNESS, DEFAULT_TRUE_PEAK
from narrator.voices import Voice, load_voice, parse_preset

from .audio import decode, integrated_loudness
from .coqui_models import (
    SAMPLE_RATE,
    SECONDS_PER_CHAR,
    SPEAKERS,
    build_vits,
    build_xtts,
    write_preset,
)

pytest.importorskip(
    "TTS", reason="the coqui engine needs coqui-tts: pip install narrator-tts[coqui]"
)

from narrator.engines import coqui  # noqa: E402 - after the skip, like the engine's users

STORY = "# A Test\n\nThe quick brown fox jumps over the lazy dog. It was a sunny day.\n"
LOUDNESS_TOLERANCE = 1.0
XTTS_RATE = 24_000
OFFLINE = "[Errno 101] Network is unreachable (the tests run offline)"

CLAUSES = [
    "the lighthouse keeper climbed the winding stairs every evening",
    "counting the steps as his father had taught him long ago",
    "while the gulls wheeled and cried above the restless grey water",
    "and the fishing boats turned for home before the weather changed",
    "because the old men on the quay had read the clouds all afternoon",
    "yet nobody could say for certain when the storm would finally break",
    "so he trimmed the wick and polished the great lens until it shone",
    "whatever the sea might bring to the rocks below the tower that night",
    "and he waited for the first of the lights to appear on the horizon",
    "knowing that every ship out there was trusting him to keep watch",
]
LONG_SENTENCE = (
    "In the village by the harbour, "
    + ", ".join(CLAUSES[:3]) + "; " + ", ".join(CLAUSES[3:6]) + ": "
    + ", ".join(CLAUSES[6:8]) + " — " + ", ".join(CLAUSES[8:]) + "."
)  # fmt: skip


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def assert_one_line_error(result: Result, code: int, *parts: str) -> str:
    """The command failed with *code* and one line on stderr holding every one of *parts*."""
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("narrator: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for part in parts:
        assert part in result.stderr
    return result.stderr


def _offline(*args: Any, **kwargs: Any) -> socket.socket:
    raise OSError(OFFLINE)


def _no_input(*args: Any) -> str:
    raise AssertionError("input() was called: a licence prompt would block a pipeline")


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tiny VITS models and presets: single.toml names its model by folder,
    multi.toml by checkpoint file."""
    root = tmp_path_factory.mktemp("coqui-models")
    build_vits(root / "single")
    build_vits(root / "multi", speakers=SPEAKERS)
    write_preset(root / "single.toml", "single")
    write_preset(root / "multi.toml", "multi/checkpoint_1.pth", speaker="bob")
    return root


@pytest.fixture(scope="session")
def xtts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny XTTS with the built-in speaker "Ana Florence", and its preset xtts.toml."""
    root = tmp_path_factory.mktemp("coqui-xtts")
    build_xtts(root / "xtts")
    write_preset(root / "xtts.toml", "xtts", speaker="Ana Florence")
    return root


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four seconds of a stereo 44.1 kHz recording to clone (a warbling tone)."""
    path = tmp_path_factory.mktemp("reference") / "reference.wav"
    rate = 44_100
    t = np.arange(4 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t + 3 * np.sin(2 * np.pi * 5 * t))
    sf.write(path, np.stack([tone, 0.5 * tone], axis=1).astype(np.float32), rate)
    return path


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """No model cache, no network, no licence, no prompt; logging restored afterwards."""
    import huggingface_hub.constants

    monkeypatch.setenv("TTS_HOME", str(tmp_path / "tts-home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv(coqui.LICENSE_ENV, "")  # undone after the test, whoever set it
    monkeypatch.delenv(coqui.COQUI_LICENSE_ENV, raising=False)
    monkeypatch.setattr(socket, "create_connection", _offline)
    monkeypatch.setattr(builtins, "input", _no_input)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "story.md").write_text(STORY)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def synthesize(voice: Voice, text: str = "A short sentence to speak.") -> np.ndarray:
    engine = load_engine(voice, device="cpu")
    try:
        return engine.synthesize(text)
    finally:
        engine.close()


# VITS: narration, speakers, chunking, device, seed


@pytest.mark.slow
def test_narrate_a_single_speaker_model(models: Path):
    result = narrate(STORY, voice=models / "single.toml", device="cpu")
    assert result.sample_rate == SAMPLE_RATE
    assert result.audio is not None and result.duration > 0
    assert integrated_loudness(result.audio, SAMPLE_RATE) == pytest.approx(
        DEFAULT_LOUDNESS, abs=LOUDNESS_TOLERANCE
    )
    # one call per sentence, and the speech of each lasts as long as its text says
    assert len(result.spans) == len(result.segments) == 3
    for segment, span in zip(result.segments, result.spans, strict=True):
        seconds = (span.end - span.start) / SAMPLE_RATE
        assert seconds == pytest.approx(len(segment.text) * SECONDS_PER_CHAR, rel=0.15)


@pytest.mark.slow
def test_read_with_a_named_speaker(models: Path):
    result = invoke(["read", "story.md", "-o", "out.wav", "--voice", str(models / "multi.toml"),
                     "--speaker", "cy", "--device", "cpu", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    decoded = decode("out.wav")
    assert decoded.rate == SAMPLE_RATE
    assert decoded.duration > 3
    assert integrated_loudness(decoded.audio, decoded.rate) == pytest.approx(
        DEFAULT_LOUDNESS, abs=LOUDNESS_TOLERANCE
    )


@pytest.mark.slow
def test_the_speaker_changes_the_voice(models: Path):
    voice = load_voice(models / "multi.toml")
    ana = synthesize(voice.with_options(speaker="ana", seed=1))
    bob = synthesize(voice.with_options(speaker="bob", seed=1))
    assert len(ana) == len(bob) > 0
    assert not np.allclose(ana, bob, atol=1e-3)
    assert np.array_equal(ana, synthesize(voice.with_options(speaker="ana", seed=1)))


@pytest.mark.slow
def test_an_unknown_speaker_lists_the_speakers(models: Path):
    result = invoke(["read", "story.md", "--voice", str(models / "multi.toml"),
                     "--speaker", "zed"])  # fmt: skip
    message = assert_one_line_error(result, 3)
    assert message == (
        "narrator: error: voice 'multi': model multi/checkpoint_1.pth has no speaker 'zed'; "
        "speakers: ana, bob, cy\n"
    )


@pytest.mark.slow
def test_speakers_must_fit_the_model(models: Path, tmp_path: Path):
    no_speaker = write_preset(tmp_path / "anyone.toml", models / "multi")
    with pytest.raises(VoiceError, match="has several speakers; choose one .*: ana, bob, cy$"):
        load_engine(load_voice(no_speaker), device="cpu")
    with pytest.raises(VoiceError, match="has a single speaker; remove speaker 'bob'"):
        load_engine(load_voice(models / "single.toml").with_options(speaker="bob"))


@pytest.mark.slow
def test_a_long_sentence_is_split_at_clause_boundaries(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    preset = write_preset(tmp_path / "short.toml", models / "single", options={"max_chars": 100})
    calls: list[str] = []
    original = coqui.CoquiEngine.synthesize

    def spy(self: coqui.CoquiEngine, text: str) -> np.ndarray:
        assert self.max_chars == 100
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(coqui.CoquiEngine, "synthesize", spy)
    assert len(LONG_SENTENCE) > 600
    result = narrate(LONG_SENTENCE, voice=preset, device="cpu")
    [segment] = result.segments
    assert len(calls) >= 7
    assert all(len(piece) <= 100 for piece in calls), [len(p) for p in calls]
    assert " ".join(calls).split() == segment.text.split()  # no word lost or repeated
    assert all(piece.rstrip()[-1] in ",;:—." for piece in calls[:-1]), calls
    assert result.duration > len(LONG_SENTENCE) * SECONDS_PER_CHAR * 0.8


@pytest.mark.slow
def test_device_cuda_without_a_gpu_is_a_clear_error(models: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = invoke(["read", "story.md", "--voice", str(models / "single.toml"),
                     "--device", "cuda"])  # fmt: skip
    assert_one_line_error(result, 2, "--device cuda: PyTorch finds no usable CUDA GPU",
                          "--device cpu")  # fmt: skip
    assert not Path("story.mp3").exists()


def needs_a_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two clips of the same length."""
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.slow
@pytest.mark.gpu
def test_device_cuda_on_a_gpu(models: Path, tmp_path: Path):
    needs_a_gpu()
    preset = write_preset(tmp_path / "calm.toml", models / "multi", speaker="bob",
                          options={"noise_scale": 0})  # fmt: skip
    voice = load_voice(preset)
    auto = load_engine(voice, device="auto")
    assert auto.describe()["device"].startswith("cuda")  # auto picks the GPU
    auto.close()
    gpu, cpu = load_engine(voice, device="cuda"), load_engine(voice, device="cpu")
    try:
        assert gpu.describe()["device"].startswith("cuda")
        # On a GPU, VITS speaks eight sentences per pass, each as it sounds on its own,
        # and as it sounds on the CPU (up to the GPU's rounding: cuDNN convolutions use TF32).
        assert gpu.batch_size == 8
        texts = [f"Sentence {n} from the graphics card, in a batch." for n in range(10)]
        texts += ["", "Short.", "A rather longer sentence to speak, with a comma in it."]
        batched = gpu.synthesize_batch(texts)
        serial = [gpu.synthesize(t) for t in texts]
        on_cpu = [cpu.synthesize(t) for t in texts]
        assert [len(c) for c in batched] == [len(c) for c in serial] == [len(c) for c in on_cpu]
        assert len(batched[10]) == 0
        for b, s, c in zip(batched, serial, on_cpu, strict=True):
            if len(c):
                assert similarity(b[:-512], s[:-512]) > 0.999
                assert similarity(s, c) > 0.99
                assert np.abs(s - c).max() < 0.1
    finally:
        gpu.close()
        cpu.close()


@pytest.mark.slow
@pytest.mark.gpu
def test_read_with_device_cuda(models: Path):
    needs_a_gpu()
    decoded = {}
    for device in ("cuda", "cpu"):
        # WAV: the tiny model's random weights put most of its energy at its Nyquist
        # frequency, which resampling for a 44.1 kHz MP3 removes.
        result = invoke(["read", "story.md", "-o", f"{device}.wav", "--voice",
                         str(models / "single.toml"), "--device", device, "--no-cache",
                         "--quiet"])  # fmt: skip
        assert result.exit_code == 0, result.stderr
        decoded[device] = decode(f"{device}.wav")
    gpu, cpu = decoded["cuda"], decoded["cpu"]
    assert gpu.rate == cpu.rate
    assert gpu.duration == pytest.approx(cpu.duration, abs=0.03)  # the same pauses and speech
    assert integrated_loudness(gpu.audio, gpu.rate) == pytest.approx(
        DEFAULT_LOUDNESS, abs=LOUDNESS_TOLERANCE
    )
    assert 20 * np.log10(np.abs(gpu.audio).max()) < DEFAULT_TRUE_PEAK


@pytest.mark.slow
def test_seed_makes_the_output_identical(models: Path):
    runs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = invoke(["read", "story.md", "-o", f"{name}.wav", "--quiet", "--seed", seed,
                         "--voice", str(models / "single.toml"), "--no-cache"])  # fmt: skip
        assert result.exit_code == 0, result.stderr
        runs[name], _ = sf.read(f"{name}.wav", dtype="float32")
    assert np.array_equal(runs["a"], runs["b"])
    assert runs["a"].shape != runs["c"].shape or not np.array_equal(runs["a"], runs["c"])


@pytest.mark.slow
def test_the_clip_cache_sees_a_new_checkpoint_or_recording(
    models: Path, xtts: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The clip cache keys clips by ``describe()``: retraining a model in place, or recording
    a new reference under the same name, must not bring back the old clips."""
    folder = tmp_path / "retrained"
    shutil.copytree(models / "single", folder)
    voice = load_voice(write_preset(tmp_path / "retrained.toml", "retrained"))
    before = load_engine(voice, device="cpu").describe()
    os.utime(folder / "checkpoint_1.pth", ns=(1, 1))
    after = load_engine(voice, device="cpu").describe()
    assert before["checkpoint"] != after["checkpoint"]
    monkeypatch.setenv(coqui.LICENSE_ENV, "1")
    shutil.copy(reference, tmp_path / "me.wav")
    clone = load_voice(write_preset(tmp_path / "clone.toml", xtts / "xtts", speaker_wav="me.wav"))
    engine = load_engine(clone, device="cpu")
    first = engine.describe()["references"]
    os.utime(tmp_path / "me.wav", ns=(1, 1))
    assert engine.describe()["references"] != first
    engine.close()


# Model files: folders, checkpoints, moved folders, options, espeak-ng


@pytest.mark.slow
def test_a_moved_model_folder_finds_its_speakers_file(models: Path, tmp_path: Path):
    moved = tmp_path / "moved"
    shutil.copytree(models / "multi", moved)
    config = json.loads((moved / "config.json").read_text())
    gone = "/home/someone/training/run-1/speakers.pth"
    config["speakers_file"] = config["model_args"]["speakers_file"] = gone
    (moved / "config.json").write_text(json.dumps(config))
    preset = write_preset(tmp_path / "moved.toml", "moved", speaker="cy")
    assert len(synthesize(load_voice(preset))) > 0
    assert json.loads((moved / "config.json").read_text())["speakers_file"] == gone  # untouched


@pytest.mark.slow
def test_options_are_checked(models: Path, tmp_path: Path):
    preset = write_preset(tmp_path / "odd.toml", models / "single", options={"colour": "red"})
    result = invoke(["read", "story.md", "--voice", str(preset)])
    assert_one_line_error(result, 3, "unknown coqui option(s) colour", "max_chars:")
    preset = write_preset(tmp_path / "xtts-only.toml", models / "single",
                          options={"temperature": 0.5})  # fmt: skip
    with pytest.raises(VoiceError, match="temperature apply to XTTS models only"):
        load_engine(load_voice(preset), device="cpu")
    preset = write_preset(tmp_path / "bad.toml", models / "single", options={"max_chars": "many"})
    with pytest.raises(
        VoiceError, match="max_chars must be a whole number from 1 to 100000, not 'many'"
    ):
        load_engine(load_voice(preset), device="cpu")


@pytest.mark.slow
def test_noise_scale_zero_is_deterministic_without_a_seed(models: Path, tmp_path: Path):
    preset = write_preset(tmp_path / "calm.toml", models / "single", options={"noise_scale": 0})
    voice = load_voice(preset)
    assert np.array_equal(synthesize(voice), synthesize(voice))


SPEED_TEXTS = ("A short sentence to speak.", "Another one, with a comma in it.",
               "And a third sentence that is a little longer than the others.")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("speed", [1.2, 1.5, 2.0])
def test_the_speech_follows_the_speed(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speed: float
):
    """VITS rounds every token's duration up to a frame, and this model gives every token
    3.5 frames: a length scale of 1/1.2 alone made the speech 1.33 times as fast."""
    from narrator.engines.speed import speech_seconds

    options = {"noise_scale": 0, "noise_scale_dp": 0}
    normal = load_voice(write_preset(tmp_path / "normal.toml", models / "single",
                                     options=options))  # fmt: skip
    engine = load_engine(normal, device="cpu")
    before = sum(speech_seconds(engine.synthesize(t), engine.sample_rate) for t in SPEED_TEXTS)
    engine.close()
    monkeypatch.setenv("NARRATOR_BATCH_SIZE", "3")
    engine = load_engine(normal.with_options(speed=speed), device="cpu")
    one = [engine.synthesize(t) for t in SPEED_TEXTS]
    batched = engine.synthesize_batch(SPEED_TEXTS)
    engine.close()
    after = sum(speech_seconds(clip, engine.sample_rate) for clip in one)
    assert before / after == pytest.approx(speed, rel=0.05)
    for alone, together in zip(one, batched, strict=True):  # the batch path stretches too
        assert len(together) == pytest.approx(len(alone), abs=engine.sample_rate * 0.02)


@pytest.mark.slow
def test_vits_speaks_sentences_in_batches_where_asked(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    preset = write_preset(tmp_path / "calm.toml", models / "multi", speaker="bob",
                          options={"noise_scale": 0})  # fmt: skip
    voice = load_voice(preset)
    serial_engine = load_engine(voice, device="cpu")
    assert serial_engine.batch_size == 1  # the default on a CPU, where batching does not pay
    monkeypatch.setenv("NARRATOR_BATCH_SIZE", "3")
    engine = load_engine(voice, device="cpu")
    assert engine.batch_size == 3 and engine.describe()["batch_size"] == 3
    texts = ["A short one.", "", "A rather longer sentence to speak, with a comma.", "Middle."]
    batched, serial = engine.synthesize_batch(texts), [engine.synthesize(t) for t in texts]
    assert [len(b) for b in batched] == [len(s) for s in serial]
    assert len(batched[1]) == 0
    for b, s in zip(batched, serial, strict=True):
        # Equal but for the model's last frame, where the decoder sees a neighbour's
        # padding instead of the end of the signal.
        assert np.allclose(b[:-512], s[:-512], atol=1e-5)

    # narrate() speaks the uncached sentences three at a time, in order.
    sizes: list[int] = []
    speak = engine.synthesize_batch
    monkeypatch.setattr(engine, "synthesize_batch", lambda t: sizes.append(len(t)) or speak(t))
    text = "# Batches\n\n" + " ".join(f"Sentence number {n} is here." for n in range(6)) + "\n"
    batched_run = narrate(text, tmp_path / "batched.wav", voice=voice, engine=engine)
    assert sizes == [3, 3, 1]
    serial_run = narrate(text, tmp_path / "serial.wav", voice=voice, engine=serial_engine,
                         cache=False)  # fmt: skip
    assert batched_run.spans == serial_run.spans
    a, b = decode(tmp_path / "batched.wav").audio, decode(tmp_path / "serial.wav").audio
    assert len(a) == len(b) and np.corrcoef(a, b)[0, 1] > 0.999
    # A second run finds every clip in the cache: no batch at all.
    sizes.clear()
    narrate(text, tmp_path / "again.wav", voice=voice, engine=engine)
    assert sizes == []


@pytest.mark.slow
def test_seeded_voices_and_xtts_speak_one_sentence_at_a_time(
    models: Path, xtts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NARRATOR_BATCH_SIZE", "4")
    seeded = load_voice(models / "single.toml").with_options(seed=3)
    assert load_engine(seeded, device="cpu").batch_size == 1
    monkeypatch.setenv(coqui.LICENSE_ENV, "1")
    assert load_engine(load_voice(xtts / "xtts.toml"), device="cpu").batch_size == 1
    monkeypatch.setenv("NARRATOR_BATCH_SIZE", "lots")
    with pytest.raises(OptionError, match="NARRATOR_BATCH_SIZE must be a whole number"):
        load_engine(load_voice(models / "single.toml"), device="cpu")


@pytest.mark.slow
def test_a_folder_with_several_checkpoints_takes_the_latest(models: Path, tmp_path: Path):
    folder = tmp_path / "training"
    shutil.copytree(models / "single", folder)
    shutil.copy(folder / "checkpoint_1.pth", folder / "checkpoint_1000.pth")
    files = coqui.find_model_files(folder)
    assert files.checkpoint.name == "checkpoint_1000.pth"
    (folder / "other.pth").write_bytes(b"")
    with pytest.raises(coqui.ModelNotFoundError, match="expected one model checkpoint"):
        coqui.find_model_files(folder)


@pytest.mark.slow
@pytest.mark.parametrize("phonemizer", ["espeak", None])  # None: coqui's default for English
def test_a_phoneme_model_without_espeak_ng_says_how_to_install_it(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phonemizer: str | None
):
    folder = tmp_path / "phonemes"
    shutil.copytree(models / "single", folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(use_phonemes=True, phonemizer=phonemizer, phoneme_language="en-us")
    (folder / "config.json").write_text(json.dumps(config))
    preset = write_preset(tmp_path / "phonemes.toml", folder)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no espeak-ng, wherever it is installed
    result = invoke(["read", "story.md", "--voice", str(preset), "--device", "cpu"])
    assert_one_line_error(result, 1, "espeak-ng program", "apt-get install espeak-ng")


# The catalog: cache, download, licence, offline


@pytest.mark.slow
def test_voices_shows_which_models_are_on_disk(models: Path, tmp_path: Path):
    result = invoke(["voices"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["joe"].split()[:4] == ["joe", "piper", "en_US", "bundled"]
    assert lines["ljspeech-vits"].split()[:4] == ["ljspeech-vits", "coqui", "en_US", "missing"]
    cached = tmp_path / "tts-home" / "tts" / "tts_models--en--ljspeech--vits"
    shutil.copytree(models / "single", cached)
    (cached / "checkpoint_1.pth").rename(cached / "model_file.pth")
    rows = {row["name"]: row for row in json.loads(invoke(["voices", "--json"]).stdout)}
    assert rows["ljspeech-vits"]["status"] == "downloaded"
    assert rows["xtts-en"]["status"] == "missing"
    assert rows["joe"]["status"] == "bundled"
    # and the shipped preset speaks from the cache, offline
    result = invoke(["read", "story.md", "-o", "lj.wav", "--voice", "ljspeech-vits", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert decode("lj.wav").rate == SAMPLE_RATE
    done = invoke(["voices", "download", "ljspeech-vits"])
    assert done.exit_code == 0, done.stderr
    assert "ljspeech-vits: model tts_models/en/ljspeech/vits is on disk (downloaded)" in done.stderr


@pytest.mark.slow  # coqui's model manager imports torch
def test_the_cache_folder_is_coquis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from trainer.io import get_user_data_dir

    for tts_home, xdg in ((str(tmp_path / "a"), None), (None, str(tmp_path / "b")), (None, None)):
        for name, value in (("TTS_HOME", tts_home), ("XDG_DATA_HOME", xdg)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert coqui.coqui_data_dir() == get_user_data_dir("tts")


@pytest.mark.slow  # coqui's model manager imports torch
def test_a_missing_model_offline_is_one_clear_line():
    hint = "connect to a network and run: narrator voices download ljspeech-vits"
    result = invoke(["read", "story.md", "--voice", "ljspeech-vits", "--device", "cpu"])
    assert_one_line_error(result, 1, "Coqui model tts_models/en/ljspeech/vits is not on disk",
                          "github.com cannot be reached", OFFLINE, hint)  # fmt: skip
    result = invoke(["voices", "download", "ljspeech-vits"])
    assert_one_line_error(result, 1, "github.com cannot be reached", hint)


def test_an_incomplete_download_is_named(tmp_path: Path):
    folder = tmp_path / "tts-home" / "tts" / "tts_models--en--ljspeech--vits"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    result = invoke(["voices", "download", "ljspeech-vits"])
    assert_one_line_error(result, 1, f"{folder} holds an incomplete download",
                          "delete that folder, then connect to a network")  # fmt: skip


def test_a_network_that_does_not_answer_does_not_hang(monkeypatch: pytest.MonkeyPatch):
    def black_hole(*args: Any, **kwargs: Any) -> socket.socket:
        time.sleep(30)
        raise OSError("too late")

    monkeypatch.setattr(socket, "create_connection", black_hole)
    monkeypatch.setattr("narrator.engines.NETWORK_TIMEOUT", 0.5)
    started = time.monotonic()
    result = invoke(["voices", "download", "vctk-p225"])
    assert time.monotonic() - started < 10
    assert_one_line_error(result, 1, "github.com cannot be reached (no answer in 0.5 s)")


@pytest.mark.slow
def test_download_goes_through_coquis_model_manager(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """GitHub is replaced by a zip of the tiny multi-speaker model, laid out like Coqui's
    release zips; everything else (unzip, finding files, fixing paths) is coqui's code."""
    import TTS.utils.manage

    archive = io.BytesIO()
    config = json.loads((models / "multi" / "config.json").read_text())
    config["speakers_file"] = config["model_args"]["speakers_file"] = "/old/place/speakers.pth"
    with zipfile.ZipFile(archive, "w") as zipped:
        prefix = "tts_models--en--vctk--vits/"
        zipped.writestr(prefix, "")  # the folder entry, as in Coqui's zips
        zipped.write(models / "multi" / "checkpoint_1.pth", prefix + "model_file.pth")
        zipped.write(models / "multi" / "speakers.pth", prefix + "speakers.pth")
        zipped.writestr(prefix + "config.json", json.dumps(config))
    fetched: list[str] = []

    class Response:
        headers = {"content-length": str(len(archive.getvalue()))}

        def iter_content(self, size: int) -> Any:
            data = archive.getvalue()
            return (data[i : i + size] for i in range(0, len(data), size))

    def get(url: str, **kwargs: Any) -> Response:
        fetched.append(url)
        return Response()

    monkeypatch.setattr(coqui, "require_network", lambda *args: None)
    monkeypatch.setattr(TTS.utils.manage.requests, "get", get)
    result = invoke(["voices", "download", "vctk-p225", "vctk-p230"])
    assert result.exit_code == 0, result.stderr
    assert fetched == [
        "https://github.com/coqui-ai/TTS/releases/download/v0.6.1_models/"
        "tts_models--en--vctk--vits.zip"
    ]
    assert "vctk-p230: model tts_models/en/vctk/vits is on disk (downloaded)" in result.stderr
    folder = tmp_path / "tts-home" / "tts" / "tts_models--en--vctk--vits"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model_file.pth",
                                                        "speakers.pth"]  # fmt: skip
    result = invoke(["read", "story.md", "-o", "p.wav", "--voice", "vctk-p225", "--quiet"])
    assert_one_line_error(result, 3, "has no speaker 'p225'; speakers: ana, bob, cy")
    result = invoke(["read", "story.md", "-o", "p.wav", "--voice", "vctk-p225", "--quiet",
                     "--speaker", "ana"])  # fmt: skip
    assert result.exit_code == 0, result.stderr


@pytest.mark.slow
def test_xtts_needs_the_licence_and_never_prompts(xtts: Path):
    result = invoke(["read", "story.md", "--voice", str(xtts / "xtts.toml"), "--device", "cpu"])
    assert_one_line_error(result, 1, "Coqui model xtts is an XTTS model",
                          "Coqui Public Model License", "--accept-coqui-license",
                          f"{coqui.LICENSE_ENV}=1")  # fmt: skip
    # the shipped preset says so before it looks for a network
    for args in (["read", "story.md", "--voice", "xtts-en"], ["voices", "download", "xtts-en"]):
        assert_one_line_error(invoke(args), 1, "tts_models/multilingual/multi-dataset/xtts_v2",
                              "--accept-coqui-license")  # fmt: skip
    accepted = invoke(["read", "story.md", "--voice", "xtts-en", "--accept-coqui-license"])
    assert_one_line_error(accepted, 1, "xtts_v2 is not on disk", "huggingface.co cannot be "
                          "reached", "narrator voices download xtts-en")  # fmt: skip


# XTTS: built-in speakers, cloning, languages, limits


@pytest.mark.slow
def test_xtts_with_a_built_in_speaker(xtts: Path):
    preset = str(xtts / "xtts.toml")
    result = invoke(["read", "story.md", "-o", "x.wav", "--voice", preset, "--quiet",
                     "--accept-coqui-license", "--seed", "3", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    decoded = decode("x.wav")
    assert decoded.rate == XTTS_RATE
    assert integrated_loudness(decoded.audio, decoded.rate) == pytest.approx(
        DEFAULT_LOUDNESS, abs=LOUDNESS_TOLERANCE
    )


@pytest.mark.slow
def test_xtts_clones_a_voice_read_with_soundfile(
    xtts: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import torchaudio

    def no_torchaudio(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("torchaudio.load needs FFmpeg's libraries; use soundfile")

    monkeypatch.setattr(torchaudio, "load", no_torchaudio)
    monkeypatch.setenv(coqui.LICENSE_ENV, "1")
    preset = write_preset(tmp_path / "clone.toml", xtts / "xtts")
    result = invoke(["read", "story.md", "-o", "c.wav", "--voice", str(preset), "--quiet",
                     "--speaker-wav", str(reference), "--seed", "1"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert decode("c.wav").rate == XTTS_RATE
    # the recording is what conditions the voice
    voice = load_voice(preset).with_options(seed=1)
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).normal(0, 0.1, 3 * 16_000), 16_000)
    engine = load_engine(voice.with_options(speaker_wav=[reference]), device="cpu")
    first, again = engine.synthesize("Hello there."), engine.synthesize("Hello there.")
    assert np.array_equal(first, again)
    other = synthesize(voice.with_options(speaker_wav=[noise]), "Hello there.")
    assert first.shape != other.shape or not np.allclose(first, other, atol=1e-3)
    # a preset names its recordings relative to itself, and may give several
    shutil.copy(reference, tmp_path / "me.wav")
    both = write_preset(tmp_path / "both.toml", xtts / "xtts", speaker_wav=["me.wav", "noise.wav"])
    engine = load_engine(load_voice(both), device="cpu")
    assert engine.describe()["speaker_wav"] == ["me.wav", "noise.wav"]
    engine.close()


@pytest.mark.slow
def test_xtts_checks_speaker_language_and_options(
    xtts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(coqui.LICENSE_ENV, "1")
    voice = load_voice(xtts / "xtts.toml")
    engine = load_engine(voice, device="cpu")
    assert engine.max_chars == 250  # XTTS's English limit
    assert engine.sample_rate == XTTS_RATE
    engine.close()
    with pytest.raises(VoiceError, match="no built-in speaker 'Nobody'; speakers: Ana Florence"):
        load_engine(voice.with_options(speaker="Nobody"), device="cpu")
    french = write_preset(tmp_path / "fr.toml", xtts / "xtts", language="fr_FR",
                          speaker="Ana Florence")  # fmt: skip
    with pytest.raises(VoiceError, match="does not speak 'fr_FR'; languages: en, de"):
        load_engine(load_voice(french), device="cpu")
    nobody = write_preset(tmp_path / "nobody.toml", xtts / "xtts")
    with pytest.raises(VoiceError, match="needs speaker_wav .* built-in: Ana Florence"):
        load_engine(load_voice(nobody), device="cpu")
    vits_only = write_preset(tmp_path / "noisy.toml", xtts / "xtts", speaker="Ana Florence",
                             options={"noise_scale": 0.3})  # fmt: skip
    with pytest.raises(VoiceError, match="noise_scale apply to VITS models only"):
        load_engine(load_voice(vits_only), device="cpu")
    too_long = write_preset(tmp_path / "long.toml", xtts / "xtts", speaker="Ana Florence",
                            options={"max_chars": 400})  # fmt: skip
    with pytest.raises(VoiceError, match="max_chars 400 is above the model's limit of 250"):
        load_engine(load_voice(too_long), device="cpu")


# Presets, packaging and the cost of importing


def test_speaker_wav_and_seed_in_presets(tmp_path: Path):
    base = {"name": "v", "engine": "coqui", "model": "m", "language": "en", "description": "d"}
    voice = parse_preset({**base, "speaker_wav": "me.wav", "seed": 5}, tmp_path / "v.toml")
    assert voice.speaker_wav == ("me.wav",) and voice.seed == 5
    assert voice.reference_audio() == (tmp_path / "me.wav",)
    voice = parse_preset({**base, "speaker_wav": ["a.wav", "/abs/b.wav"]}, tmp_path / "v.toml")
    assert voice.reference_audio() == (tmp_path / "a.wav", Path("/abs/b.wav"))
    assert voice.with_options(speaker_wav=["c.wav"]).speaker_wav == (str(Path.cwd() / "c.wav"),)
    assert voice.with_options(speaker_wav=()).speaker_wav == voice.speaker_wav
    with pytest.raises(VoiceError, match="speaker_wav must be a file name or a list of file"):
        parse_preset({**base, "speaker_wav": ["a.wav", 3]})
    with pytest.raises(VoiceError, match="seed must be a whole number, not .five."):
        parse_preset({**base, "seed": "five"})
    with pytest.raises(VoiceError, match="seed must be a whole number from 0 to 4294967295"):
        parse_preset({**base, "seed": -1})


def test_reference_audio_is_read_as_mono_at_the_models_rate(reference: Path, tmp_path: Path):
    audio = coqui.read_reference(reference, 22_050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(4 * 22_050, abs=2)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(VoiceError, match="cannot read the reference recording"):
        coqui.read_reference(tmp_path / "bad.wav", 22_050)


def test_the_engine_is_a_plugin_like_any_other():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]["narrator.engines"]["coqui"]
    assert declared == _BUILTIN["coqui"] == "narrator.engines.coqui:CoquiEngine"
    assert engine_class("coqui") is coqui.CoquiEngine
    extra = project["project"]["optional-dependencies"]["coqui"]
    assert {r.split("=")[0].split(">")[0] for r in extra} >= {"coqui-tts", "torch", "torchaudio",
                                                               "torchcodec"}  # fmt: skip


@pytest.mark.slow
def test_piper_narration_does_not_import_torch(tmp_path: Path):
    code = (
        "import sys\n"
        "from narrator import narrate\n"
        "narrate('Hello there.', 'out.wav', voice='joe')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'TTS', 'torchaudio'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
    assert (tmp_path / "out.wav").stat().st_size > 1000
