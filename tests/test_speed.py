"""``speed`` means what it says: the speech lasts 1 / speed as long, the pauses do not change.

"Speech" is each clip trimmed of its leading and trailing silence as narrator trims it
(:func:`narrator.engines.speed.speech_seconds`), summed over the sentences; in a decoded
narration, the audio less the lead-in, the tail and the pauses between sentences.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from narrator import narrate
from narrator.engines import load_engine, register_engine, unregister_engine
from narrator.engines.speed import CALIBRATION_TEXT, calibrate, speech_seconds, stretch
from narrator.rendering import Rendering
from narrator.voices import Voice, load_voice

from .audio import decode, speech_gaps
from .fake_engine import SAMPLE_RATE, RoundingEngine

TOLERANCE = 0.05
"""How far (relative) the speech's length may be from 1 / speed of its length at speed 1."""

TEXTS = (
    "Dr. Morgan said, quietly: we have three hours, perhaps four, before the tide turns.",
    "The committee approved the budget of 4.2 million dollars on Tuesday, after a long debate.",
    "Install the package, open a terminal, and run the command with the output option.",
    "Why would anyone build a house on the edge of a cliff?",
)
"""Sentences other than the calibration text, so that the tests see the rate generalize."""

STORY = (
    "The storm came in from the sea at night.\n\n"
    "Nobody in the village slept until the morning light.\n\n"
    "Then the fishermen went down to the harbour to count the boats."
)
"""No commas, so that the only long silences in the narration are the pauses asked for."""

RENDERING = Rendering(sentence_pause=0.6, paragraph_pause=1.0, lead_in=0.5, tail=0.5)
PAUSE_TOLERANCE = 0.03


def spoken(voice: Voice, texts: tuple[str, ...] = TEXTS) -> float:
    """Seconds of speech in *voice*'s clips of *texts*."""
    engine = load_engine(voice, device="cpu")
    try:
        return sum(speech_seconds(engine.synthesize(t), engine.sample_rate) for t in texts)
    finally:
        engine.close()


def narrated(voice: Voice, tmp_path: Path) -> tuple[float, list[float]]:
    """The speech in *voice*'s narration of :data:`STORY`, decoded, and its pauses."""
    path = tmp_path / f"speed-{voice.speed:g}.wav"
    narrate(STORY, path, voice=voice, rendering=RENDERING, cache=False)
    decoded = decode(path)
    pauses = [gap for _, gap in speech_gaps(decoded.audio, decoded.rate, min_gap=0.45)]
    return decoded.duration - RENDERING.lead_in - RENDERING.tail - sum(pauses), pauses


def assert_rate(normal: float, faster: float, speed: float) -> None:
    assert normal / faster == pytest.approx(speed, rel=TOLERANCE), (normal, faster, speed)


# The mechanism, with a fake engine whose control rounds up as VITS's does


@pytest.fixture
def rounding_voice(user_dirs: Path):
    register_engine("rounding", RoundingEngine)
    yield Voice(name="rounding", engine="rounding", model="tone", language="en",
                description="rounds durations up")  # fmt: skip
    unregister_engine("rounding")


def test_the_rounding_engine_alone_is_not_proportional():
    """What the mechanism is for: the control's own 1/2 makes speech 1.5 times as fast."""
    normal = RoundingEngine.frames(" ".join(TEXTS), 1.0)
    assert normal / RoundingEngine.frames(" ".join(TEXTS), 0.5) < 1.8


@pytest.mark.parametrize("speed", [0.8, 1.2, 1.5, 2.0, 3.0])
def test_speech_follows_the_speed(rounding_voice: Voice, speed: float):
    normal = spoken(rounding_voice)
    assert_rate(normal, spoken(replace(rounding_voice, speed=speed)), speed)


def test_the_pauses_stay_as_asked(rounding_voice: Voice, tmp_path: Path):
    normal, pauses = narrated(rounding_voice, tmp_path)
    faster, fast_pauses = narrated(replace(rounding_voice, speed=2.0), tmp_path)
    assert_rate(normal, faster, 2.0)
    assert pauses == pytest.approx([1.0, 1.0], abs=PAUSE_TOLERANCE)
    assert fast_pauses == pytest.approx(pauses, abs=PAUSE_TOLERANCE)


def test_calibration_on_a_step_function_stretches_the_rest():
    """Where every token has the same length, the control moves in steps: the search
    stops on the nearest and the clips are time-stretched by what is left."""

    def speak(scale: float) -> np.ndarray:
        frames = len(CALIBRATION_TEXT) * int(np.ceil(3.5 * scale))
        return np.full(frames * 160, 0.3, dtype=np.float32)

    rate = calibrate(speak, 1.2, SAMPLE_RATE)
    achieved = speech_seconds(speak(1.0), SAMPLE_RATE) / speech_seconds(speak(rate.scale),
                                                                      SAMPLE_RATE)  # fmt: skip
    assert rate.stretch != 1.0
    assert achieved * rate.stretch == pytest.approx(1.2, rel=0.01)


def test_speed_one_costs_nothing():
    def speak(scale: float) -> np.ndarray:
        raise AssertionError("no calibration at speed 1")

    rate = calibrate(speak, 1.0, SAMPLE_RATE)
    assert (rate.scale, rate.stretch) == (1.0, 1.0)


def test_stretch_keeps_the_pitch():
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    faster = stretch(tone, 1.6, SAMPLE_RATE)
    assert len(faster) / SAMPLE_RATE == pytest.approx(2 / 1.6, rel=0.02)
    middle = faster[len(faster) // 4 : 3 * len(faster) // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak = np.fft.rfftfreq(len(middle), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))]
    assert peak == pytest.approx(220, abs=2)


# joe, deterministic


@pytest.fixture(scope="module")
def joe() -> Voice:
    return replace(load_voice("joe"), options={"noise_scale": 0.0, "noise_w_scale": 0.0})


@pytest.fixture(scope="module")
def joe_normal(joe: Voice) -> float:
    return spoken(joe)


@pytest.mark.slow
@pytest.mark.parametrize("speed", [0.8, 1.2, 1.5, 2.0])
def test_joe_follows_the_speed(joe: Voice, joe_normal: float, speed: float):
    assert_rate(joe_normal, spoken(joe.with_options(speed=speed)), speed)


@pytest.mark.slow
def test_joe_keeps_the_pauses(joe: Voice, tmp_path: Path):
    normal, pauses = narrated(joe, tmp_path)
    faster, fast_pauses = narrated(joe.with_options(speed=2.0), tmp_path)
    assert_rate(normal, faster, 2.0)
    assert len(pauses) == 2
    assert pauses == pytest.approx([1.0, 1.0], abs=PAUSE_TOLERANCE)
    assert fast_pauses == pytest.approx(pauses, abs=PAUSE_TOLERANCE)


def test_the_rate_is_kept_for_next_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path))
    made: list[float] = []

    def speak(scale: float) -> np.ndarray:
        made.append(scale)
        return RoundingEngine(load_voice_stub()).speak(CALIBRATION_TEXT, scale)

    first = calibrate(speak, 1.5, SAMPLE_RATE, identity={"model": "a"})
    tries = len(made)
    assert tries >= 2 and list((tmp_path / "models").glob("rate-*.json"))
    assert calibrate(speak, 1.5, SAMPLE_RATE, identity={"model": "a"}) == first
    assert len(made) == tries  # found, not searched again
    calibrate(speak, 1.5, SAMPLE_RATE, identity={"model": "b"})  # another model
    assert len(made) > tries


def load_voice_stub() -> Voice:
    return Voice(name="stub", engine="rounding", model="tone", language="en", description="")
