"""Speaking rate: making an engine's own duration control follow ``speed`` exactly.

``speed`` means that the speech (each clip trimmed of its leading and trailing silence,
as narrator trims it; the pauses narrator adds are not speech) lasts ``1 / speed`` as
long as at speed 1.  A model's duration control is rarely that proportional: VITS
models (Piper, Coqui) round every token's duration *up* to a whole frame, so a length
scale of 1/2 gave joe's speech only 1/1.64 of its length, and 1/1.2 only 1/1.12.

:func:`calibrate` finds, once per loaded voice, the value of the model's control at
which a calibration text's speech has the length asked for, by measuring it; where the
model cannot reach it (every token keeps at least one frame), the rest is made up by
time-stretching each clip (:func:`stretch`, WSOLA: the pitch does not change).  An
engine with a control of its own calls :func:`calibrate` as it loads, sets its control
to :attr:`Rate.scale`, and passes each clip through :meth:`Rate.apply`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import ClipCache, write_atomically
from ..stitch import speech_bounds

logger = logging.getLogger(__name__)

CALIBRATION_TEXT = (
    "The old lighthouse keeper climbed the stairs each evening, counting every step. "
    "Nobody in the village knew why he did it, but the light never failed. "
    "On the night of the storm, a small boat appeared on the horizon, and he waited."
)
"""What a voice speaks to measure its rate: ordinary prose with commas and full stops,
about 12 seconds at joe's own rate, so that the rounding of single tokens averages out."""

TOLERANCE = 0.005
"""How close (relative) the calibration text's speech must come to the length asked for
before the search stops; beyond what the model reaches, clips are time-stretched."""

STRETCH_THRESHOLD = 0.01
"""A remainder smaller than this (relative) is left alone rather than time-stretched."""

MAX_STEPS = 8
"""Syntheses of the calibration text the search may make beyond the first two."""

SCALE_RANGE = (0.5, 4.0)
"""The values of a model's length scale (relative to its own) the search may try.  Below
a half, more and more of joe's tokens sit on their one-frame floor and how fast the
speech gets depends on the text (at 0.3: 1.98 times as fast on the calibration text,
1.88 on three short sentences, 2.02 on five others; at 0.5: 1.63, 1.61, 1.65): the
rest is time-stretched."""


def speech_seconds(clip: np.ndarray, sample_rate: int) -> float:
    """The seconds of speech in *clip*: from its first to its last speech frame, as the
    stitcher trims it (:func:`narrator.stitch.speech_bounds`); 0 for a silent clip."""
    bounds = speech_bounds(np.asarray(clip, dtype=np.float32).reshape(-1), sample_rate)
    return 0.0 if bounds is None else (bounds[1] - bounds[0]) / sample_rate


@dataclass(frozen=True)
class Rate:
    """How an engine meets a speed: its own control, then a time-stretch for the rest."""

    scale: float = 1.0
    """The model's length scale, relative to its own (1 / speed for a proportional model)."""

    stretch: float = 1.0
    """The factor each clip is sped up by afterwards (1: none, the model reached it)."""

    sample_rate: int = 0

    def apply(self, clip: np.ndarray) -> np.ndarray:
        """*clip* time-stretched by :attr:`stretch` (unchanged when that is 1)."""
        if self.stretch == 1.0 or not len(clip):
            return clip
        return stretch(clip, self.stretch, self.sample_rate)


def calibrate(
    speak: Callable[[float], np.ndarray],
    speed: float,
    sample_rate: int,
    *,
    name: str = "",
    identity: dict[str, Any] | None = None,
) -> Rate:
    """The :class:`Rate` at which *speak* speaks *speed* times as fast as at scale 1.

    *speak(scale)* returns the model's deterministic audio for :data:`CALIBRATION_TEXT`
    with its length scale (durations) multiplied by *scale*.  The search is a secant on
    the speech's length, which grows with the scale; it stops within :data:`TOLERANCE`.
    It costs a few syntheses of the text (joe: 4 to 8, 1 to 3 s of CPU): with an
    *identity* (everything the model's audio depends on), the result is kept in the
    cache's ``models`` folder and found there next time.
    """
    if speed == 1.0:
        return Rate(sample_rate=sample_rate)
    path = _kept(identity, speed, sample_rate)
    if path is not None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            kept = json.loads(path.read_text("utf-8"))
            return Rate(float(kept["scale"]), float(kept["stretch"]), sample_rate)
    rate = _search(speak, speed, sample_rate, name)
    if path is not None:
        with contextlib.suppress(OSError):
            write_atomically(path, json.dumps(asdict(rate)).encode())
    return rate


def _kept(identity: dict[str, Any] | None, speed: float, sample_rate: int) -> Path | None:
    """Where the rate for *identity* at *speed* is kept, or None without an identity."""
    if identity is None:
        return None
    payload = {"identity": identity, "speed": speed, "rate": sample_rate,
               "text": CALIBRATION_TEXT, "tolerance": TOLERANCE, "range": SCALE_RANGE,
               "v": 1}  # fmt: skip
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return ClipCache().models / f"rate-{key[:32]}.json"


def _search(
    speak: Callable[[float], np.ndarray], speed: float, sample_rate: int, name: str
) -> Rate:
    low, high = SCALE_RANGE
    target = speech_seconds(speak(1.0), sample_rate) / speed
    if target <= 0:
        return Rate(scale=1.0 / speed, sample_rate=sample_rate)
    tried: list[tuple[float, float]] = [(1.0, target * speed)]
    scale = min(max(1.0 / speed, low), high)
    for _ in range(MAX_STEPS + 1):
        length = speech_seconds(speak(scale), sample_rate)
        tried.append((scale, length))
        if abs(length / target - 1) <= TOLERANCE:
            break
        # the two tries nearest the target, one on each side where there are
        below = [t for t in tried if t[1] < target]
        above = [t for t in tried if t[1] > target]
        if below and above:
            (s0, l0), (s1, l1) = max(below, key=lambda t: t[1]), min(above, key=lambda t: t[1])
        else:
            (s0, l0), (s1, l1) = sorted(tried, key=lambda t: abs(t[1] - target))[:2]
        if l1 == l0:
            break
        guess = s0 + (target - l0) * (s1 - s0) / (l1 - l0)
        guess = min(max(guess, low), high)
        if any(math.isclose(guess, s, rel_tol=1e-4) for s, _ in tried):
            break  # a step function (identical tokens): the nearest is as good as it gets
        scale = guess
    scale, length = min(tried[1:], key=lambda t: abs(t[1] - target))
    remainder = length / target
    if abs(remainder - 1) < STRETCH_THRESHOLD:
        remainder = 1.0
    logger.info("voice %s at speed %g: length scale %.4f x its own%s", name, speed, scale,
                f", then time-stretched by {remainder:.3f}" if remainder != 1 else "")  # fmt: skip
    return Rate(scale=scale, stretch=remainder, sample_rate=sample_rate)


def stretch(clip: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """*clip* played *factor* times as fast at the same pitch (WSOLA, from ``audiotsm``):
    ``round(len(clip) / factor)`` samples."""
    from audiotsm import wsola
    from audiotsm.io.array import ArrayReader, ArrayWriter

    samples = np.asarray(clip, dtype=np.float32).reshape(-1)
    frame = 1 << max(8, round(math.log2(0.04 * sample_rate)))  # about 40 ms
    # WSOLA's output starts in time but loses about its last frame: a frame of silence
    # after the clip keeps it, and the output is cut to the length asked for.
    padded = np.concatenate([samples, np.zeros(frame, dtype=np.float32)]).reshape(1, -1)
    writer = ArrayWriter(channels=1)
    wsola(1, speed=factor, frame_length=frame).run(ArrayReader(padded), writer)
    out = np.asarray(writer.data, dtype=np.float32).reshape(-1)
    length = round(len(samples) / factor)
    out = np.concatenate([out[:length], np.zeros(max(0, length - len(out)), np.float32)])
    return np.clip(out, -1.0, 1.0)
