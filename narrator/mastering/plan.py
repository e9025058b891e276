"""The gain planner that every way of mastering shares, and what mastering reports.

A programme's block analysis (:class:`~narrator.loudness.Blocks`: per-block true
peaks and K-weighted energies) predicts the loudness that any gain followed by
the true-peak limiter gives, without touching the audio again.  :func:`plan_gain`
finds the gain that reaches a target under a ceiling; the whole-file, piece-wise
and streaming paths all plan with it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..loudness import Blocks, Limiter, ReductionStream, predicted_loudness_stream
from ..rendering import Rendering

logger = logging.getLogger(__name__)

PIECE = ReductionStream.PIECE

LOUDNESS_TOLERANCE = 0.3
"""LU a pass may miss the target by before it is run again."""

PEAK_GUARD = 0.1
"""dB the measured true peak must stay under the ceiling."""

LOSSY_PEAK_MARGIN = 0.6
LOSSLESS_PEAK_MARGIN = 0.2
"""dB the limiter starts under the ceiling, for what encoding adds to the peaks."""

MAX_PASSES = 4
"""The most times a file (or its pieces) is mastered before it is taken as it is."""

REPLAN_LU = 0.2
"""How far (LU) the gain in use may miss the target, by the loudness it predicts for
what has been stitched, before it is planned again."""


@dataclass(frozen=True)
class Mastered:
    """What mastering measured on the file it wrote."""

    loudness: float
    """Integrated loudness of the decoded file, LUFS."""

    true_peak: float
    """True peak of the decoded file, dBTP."""

    gain: float
    """Gain applied before the limiter, dB."""

    passes: int
    """How many times the second pass ran."""

    ceiling: float
    """The limiter's ceiling in the last pass, dBTP."""

    pieces: int = 1
    """Pieces the file was mastered in (see :mod:`narrator.mastering.pieces`)."""

    reused: int = 0
    """Pieces taken ready-made from the cache."""


def limiter_ceiling(rendering: Rendering) -> float:
    """Where the limiter starts (dBTP): under the rendering's ceiling by what the
    encoding is expected to add to the peaks."""
    margin = LOSSY_PEAK_MARGIN if rendering.format.lossy else LOSSLESS_PEAK_MARGIN
    return rendering.true_peak - margin


def predict_loudness(blocks: Blocks, rate: int, gain: float, limiter: Limiter) -> float:
    """Loudness of the programme after *gain* and *limiter*, from its block analysis."""
    pieces = limiter.stream(blocks, gain).pieces()
    return predicted_loudness_stream(
        blocks, ((first, gain - reduction) for first, reduction in pieces), rate
    )


def plan_gain(blocks: Blocks, rate: int, target: float, ceiling: float) -> float:
    """The gain that brings the limited programme to *target*, found by the secant method.

    The gain never asks the limiter for more than it can take off the loudest block: when
    the target is out of reach under the ceiling, the loudest gain that stays under it wins.
    """
    limiter = Limiter(rate, ceiling)
    unity = ((first, np.zeros(min(PIECE, len(blocks) - first)))
             for first in range(0, len(blocks), PIECE))  # fmt: skip
    source = predicted_loudness_stream(blocks, unity, rate)
    if not math.isfinite(source):
        logger.warning("the narration is silent; it is written without loudness normalization")
        return 0.0
    most = ceiling + Limiter.MAX_REDUCTION_DB - blocks.loudest_db
    g0 = min(target - source, most)
    l0 = predict_loudness(blocks, rate, g0, limiter)
    g1 = min(g0 + (target - l0), most)
    best = (abs(l0 - target), g0)
    for _ in range(8):
        l1 = predict_loudness(blocks, rate, g1, limiter)
        if not math.isfinite(l1):
            # Limiting can make the loudness of a short programme fall as the gain
            # rises, and the secant then run off: the closest gain tried wins.
            return best[1]
        best = min(best, (abs(l1 - target), g1))
        if abs(l1 - target) < 0.02 or l1 == l0:
            break
        step = (target - l1) * (g1 - g0) / (l1 - l0)
        if not math.isfinite(step):
            return best[1]
        g0, l0, g1 = g1, l1, min(g1 + step, most)
    else:  # no convergence in 8 steps: the closest gain tried, not an untried one
        return best[1]
    return g1


def replan_gain(
    blocks: Blocks, rate: int, aim: float, ceiling: float, current: float | None,
    tolerance: float = REPLAN_LU,
) -> float:  # fmt: skip
    """The gain that reaches *aim*: the *current* one while it is predicted to miss
    *aim* by no more than *tolerance* LU."""
    if current is not None:
        miss = predict_loudness(blocks, rate, current, Limiter(rate, ceiling)) - aim
        if abs(miss) <= tolerance:
            return current
        logger.debug("the gain in use, %+.2f dB, misses by %+.2f LU", current, miss)
    return plan_gain(blocks, rate, aim, ceiling)
