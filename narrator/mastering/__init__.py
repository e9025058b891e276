"""Mastering: the stitched programme -> audio at the target loudness, under the true-peak
ceiling.

Three paths share one gain planner (:mod:`.plan`) and one renderer (:mod:`.render`):

- :mod:`.whole`: the whole file at once, after synthesis, checked and re-run until it
  meets the target (every format);
- :mod:`.pieces`: WAV and MP3 in pieces while synthesizing, kept in the piece store
  (:mod:`.store`; MP3 frame handling in :mod:`.mp3`);
- :mod:`.live`: a stream, a block at a time, from the voice's measured loudness.
"""

from __future__ import annotations

from .plan import (
    LOUDNESS_TOLERANCE,
    PEAK_GUARD,
    Mastered,
    limiter_ceiling,
    plan_gain,
    predict_loudness,
    replan_gain,
)

__all__ = [
    "LOUDNESS_TOLERANCE", "PEAK_GUARD", "Mastered", "limiter_ceiling", "plan_gain",
    "predict_loudness", "replan_gain",
]  # fmt: skip
