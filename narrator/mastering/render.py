"""Rendering mastered audio: the gain and the limiter applied to a stretch of the
programme, and the room tone laid under it (shared by every way of mastering)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.random import default_rng  # (numpy imports it lazily: 35 ms)

from ..loudness import BLOCK, Limiter, db_to_gain
from ..stitch import Programme

CHUNK = 1 << 17
"""Samples per chunk in the second pass (about six seconds at 22 kHz)."""

ROOM_TONE_SEED = 1770
"""Seed of the room tone's noise: the same hush in every narration."""

_ROOM_TONE_POLE = 0.9
"""One-pole low-pass coefficient that softens white noise towards a room's hush."""

Reduction = Callable[[int, int], np.ndarray]
"""The limiter's reduction (dB) of blocks [start, stop)."""


def render_range(
    programme: Programme, start: int, stop: int, gain_db: float, limiter: Limiter,
    reduction: Reduction,
) -> np.ndarray:  # fmt: skip
    """Samples [start, stop) of *programme* with the gain and the limiter applied
    (not the room tone).  *start* must lie on a block boundary."""
    context = limiter.touch_up_context
    first, last = max(0, start - context), min(programme.length, stop + context)
    # One block of context each side, for the interpolation between block centres.
    lo, hi = max(0, first // BLOCK - 1), -(-last // BLOCK) + 1
    blocks = reduction(lo, hi)
    gains = limiter.sample_gains(blocks, len(blocks) * BLOCK)
    offset = first - lo * BLOCK
    audio = programme.read(first, last).astype(np.float64)
    audio *= db_to_gain(gain_db) * gains[offset : offset + len(audio)]
    return np.asarray(limiter.touch_up(audio)[start - first : stop - first])


class RoomTone:
    """A faint, soft, deterministic noise floor: a loop of low-passed noise.

    The loop is long enough (and quiet enough) that no repetition can be heard.
    """

    LOOP_SECONDS = 7.3

    def __init__(self, level_db: float | None, sample_rate: int) -> None:
        self._loop = np.zeros(0)
        if level_db is None:
            return
        white = default_rng(ROOM_TONE_SEED).standard_normal(round(self.LOOP_SECONDS * sample_rate))
        # Low-pass the loop circularly, so that its end flows into its start.
        taps = _ROOM_TONE_POLE ** np.arange(256) * (1 - _ROOM_TONE_POLE)
        soft = np.fft.irfft(np.fft.rfft(white) * np.fft.rfft(taps, len(white)), len(white))
        self._loop = soft * (db_to_gain(level_db) / soft.std())

    def at(self, position: int, n: int) -> np.ndarray:
        """*n* samples of room tone from *position* samples into the loop's run."""
        if not len(self._loop):
            return np.zeros(n)
        return np.asarray(self._loop[(position + np.arange(n)) % len(self._loop)])
