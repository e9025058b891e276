"""A deterministic engine for fast pipeline tests: a tone whose length follows the text."""

from __future__ import annotations

import numpy as np

from narrator.engines import Engine
from narrator.voices import Voice

SECONDS_PER_CHAR = 0.05
SAMPLE_RATE = 16_000
LEAD_SILENCE = 0.1
"""Silence the fake engine puts around each clip, as real models do; narrator trims it."""


class FakeEngine(Engine):
    """Speaks every character as 50 ms of a two-partial tone, with silence around it."""

    name = "fake"
    sample_rate = SAMPLE_RATE
    max_chars: int | None = None
    calls: list[str] = []

    def __init__(self, voice: Voice) -> None:
        self.voice = voice

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> FakeEngine:
        return cls(voice)

    def synthesize(self, text: str) -> np.ndarray:
        FakeEngine.calls.append(text)
        seconds = len(text) * SECONDS_PER_CHAR / self.voice.speed
        t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
        pad = np.zeros(round(LEAD_SILENCE * SAMPLE_RATE))
        return np.concatenate([pad, tone, pad]).astype(np.float32)


def expected_speech_seconds(text: str, speed: float = 1.0) -> float:
    return len(text) * SECONDS_PER_CHAR / speed


class SpoilingEngine(FakeEngine):
    """The fake engine, except that the first ``spoiled`` clips it makes in each process
    are spoiled the way ``spoil`` says: ``nan`` or ``inf`` (one such sample in the middle),
    ``2d`` (a column), ``int`` (16-bit samples) or ``huge`` (float64 beyond float32)."""

    name = "spoiling"
    spoil = "nan"
    spoiled = 1
    made = 0  # clips made in this process

    def synthesize(self, text: str) -> np.ndarray:
        clip = super().synthesize(text)
        SpoilingEngine.made += 1
        if SpoilingEngine.made > self.spoiled:
            return clip
        if self.spoil in ("nan", "inf", "huge"):
            clip = clip.astype(np.float64)
            clip[len(clip) // 2] = {"nan": np.nan, "inf": np.inf, "huge": 1e300}[self.spoil]
            return clip
        if self.spoil == "2d":
            return clip.reshape(-1, 1)
        return (clip * 32767).astype(np.int16)


class AlwaysNaNEngine(SpoilingEngine):
    """Every clip has a NaN (a class of its own, for worker processes, which do not see
    attributes set in the parent)."""

    spoiled = 10**9


class FirstNaNEngine(SpoilingEngine):
    """The first clip each process makes has a NaN."""

    spoiled = 1


class SlowEngine(FakeEngine):
    """The fake engine, taking a tenth of a second per clip."""

    def synthesize(self, text: str) -> np.ndarray:
        import time

        time.sleep(0.1)
        return super().synthesize(text)


class DyingEngine(FakeEngine):
    """Ends its process at the first clip (a worker killed, or out of memory)."""

    name = "dying"

    def synthesize(self, text: str) -> np.ndarray:
        import os

        os._exit(9)


class UnloadableEngine(FakeEngine):
    """Fails to load with an exception of its own."""

    name = "unloadable"

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> FakeEngine:
        raise RuntimeError("the weights are in another castle")


class RoundingEngine(FakeEngine):
    """The fake engine with a duration control that is not proportional, as VITS's: every
    character lasts a whole number of 10 ms frames, its own length times the scale rounded
    up (at least one frame).  It meets ``speed`` through :mod:`narrator.engines.speed`."""

    name = "rounding"
    FRAME = 0.010

    def __init__(self, voice: Voice) -> None:
        super().__init__(voice)
        from narrator.engines.speed import Rate

        self.rate = Rate(sample_rate=SAMPLE_RATE)

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> RoundingEngine:
        from narrator.engines.speed import CALIBRATION_TEXT, calibrate

        engine = cls(voice)
        engine.rate = calibrate(lambda scale: engine.speak(CALIBRATION_TEXT, scale),
                                voice.speed, SAMPLE_RATE)  # fmt: skip
        return engine

    @classmethod
    def frames(cls, text: str, scale: float) -> int:
        """Frames of tone for *text* at *scale*: 1.3 to 4.1 frames a character, rounded up."""
        return sum(max(1, int(np.ceil((1.3 + 0.7 * (ord(c) % 5)) * scale))) for c in text)

    def speak(self, text: str, scale: float) -> np.ndarray:
        seconds = self.frames(text, scale) * self.FRAME
        t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
        pad = np.zeros(round(LEAD_SILENCE * SAMPLE_RATE))
        return np.concatenate([pad, tone, pad]).astype(np.float32)

    def synthesize(self, text: str) -> np.ndarray:
        FakeEngine.calls.append(text)
        return self.rate.apply(self.speak(text, self.rate.scale))


KILL_MARKS_ENV = "NARRATOR_TEST_KILL_MARKS"
"""The folder where :class:`KillOnceEngine` leaves a mark once it has killed its process."""


class KillOnceEngine(FakeEngine):
    """The fake engine, except that its process is killed (SIGKILL) at its third clip,
    once for each model name: the mark is a file named after the model in the folder
    ``$NARRATOR_TEST_KILL_MARKS``.  Its clips are the fake engine's."""

    name = "kill-once"
    made = 0  # clips made in this process

    def synthesize(self, text: str) -> np.ndarray:
        import os
        import signal
        import time
        from pathlib import Path

        time.sleep(0.05)  # other workers are busy meanwhile
        KillOnceEngine.made += 1
        mark = Path(os.environ[KILL_MARKS_ENV], self.voice.model)
        if KillOnceEngine.made == 3 and not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().synthesize(text)


class GatedEngine(FakeEngine):
    """The fake engine, except that it speaks a text containing :attr:`GATE_WORD` only once
    the file named by the ``NARRATOR_TEST_GATE`` environment variable exists (in this
    process or a ``narrator`` subprocess): a test holds the last sentence back until it
    has seen the first audio, so streaming is proven without timing anything."""

    name = "gated"
    GATE_WORD = "Finally"
    WAIT = 60.0
    """Seconds it waits at most (a test that never opens the gate fails, not hangs)."""

    def synthesize(self, text: str) -> np.ndarray:
        if self.GATE_WORD in text:
            import os
            import time
            from pathlib import Path

            gate = Path(os.environ["NARRATOR_TEST_GATE"])
            deadline = time.monotonic() + self.WAIT
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().synthesize(text)


class HeldEngine(FakeEngine):
    """The fake engine, except that after its first ``free`` clips (a stream's calibration of
    the voice's loudness aside) each waits for ``gate``
    (at most ``WAIT`` seconds): a test holds synthesis where it wants, then opens the gate."""

    name = "held"
    free = 1
    gate = None  # a threading.Event, set by the test
    WAIT = 30.0

    def synthesize(self, text: str) -> np.ndarray:
        from narrator.streaming import CALIBRATION_TEXT  # a stream measures its voice first

        counted = [call for call in FakeEngine.calls if call not in CALIBRATION_TEXT]
        held = text not in CALIBRATION_TEXT and len(counted) >= self.free
        if held and HeldEngine.gate is not None:
            HeldEngine.gate.wait(self.WAIT)
        return super().synthesize(text)
