"""Mastering: the stitched programme -> a file at the target loudness, under the peak ceiling.

Pass one (while synthesizing) writes the programme to a temporary file of raw
samples and measures its loudness on the way.  Pass two reads it back in
chunks, applies the gain and the true-peak limiter, lays the room tone under
it and encodes.  The encoded file is then decoded and measured; a lossy codec
moves the level a little, so when the result misses the target the second pass
runs again with the error corrected.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.random import default_rng  # (numpy imports it lazily: 35 ms)

from .encode import Sink, decode_blocks, open_sink, output_rate
from .loudness import (
    BLOCK,
    BlockAnalysis,
    Blocks,
    Limiter,
    LoudnessMeter,
    ReductionStream,
    db_to_gain,
    measure,
    predicted_loudness_stream,
)
from .rendering import AudioFormat, Rendering
from .tags import write_tags
from .timeline import Chapter

logger = logging.getLogger(__name__)

PIECE = ReductionStream.PIECE

CHUNK = 1 << 17
"""Samples per chunk in the second pass (about six seconds at 22 kHz)."""

LOUDNESS_TOLERANCE = 0.3
"""LU a pass may miss the target by before it is run again."""

PEAK_GUARD = 0.1
"""dB the measured true peak must stay under the ceiling."""

LOSSY_PEAK_MARGIN = 0.6
LOSSLESS_PEAK_MARGIN = 0.2
"""dB the limiter starts under the ceiling, for what encoding adds to the peaks."""

MAX_PASSES = 4

ROOM_TONE_SEED = 1770
_ROOM_TONE_POLE = 0.9
"""One-pole low-pass coefficient that softens white noise towards a room's hush."""


class Programme:
    """The stitched narration before mastering: raw samples on disk, and their loudness."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.analysis = BlockAnalysis(sample_rate)
        self.length = 0
        self.finished = False
        """Whether the last sample has been appended."""
        # Lives as long as the programme; closed by close().
        self._file = tempfile.TemporaryFile(prefix="narrator-", suffix=".f32")  # noqa: SIM115
        self._lock = threading.Lock()

    def append(self, audio: np.ndarray) -> None:
        data = np.asarray(audio, dtype="<f4")
        with self._lock:
            self._file.seek(0, 2)
            self._file.write(data.tobytes())
            self.length += len(data)
        self.analysis.feed(data)

    def finish(self) -> None:
        """No more audio comes: analyse what is left."""
        self.analysis.flush()
        self.finished = True

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) (any thread may read while another appends)."""
        with self._lock:
            start, stop = max(0, start), min(self.length, stop)
            self._file.seek(start * 4)
            return np.frombuffer(self._file.read(max(0, stop - start) * 4), dtype="<f4")

    @property
    def duration(self) -> float:
        return self.length / self.sample_rate

    def close(self) -> None:
        self._file.close()
        self.analysis.close()


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
    """Pieces the file was mastered in (see :mod:`narrator.pieces`)."""

    reused: int = 0
    """Pieces taken ready-made from the cache."""


def master(
    programme: Programme,
    destination: Path,
    rendering: Rendering,
    chapters: Sequence[Chapter] = (),
) -> Mastered:
    """Write *programme* to *destination*, normalized, limited, encoded and tagged."""
    blocks = _analysis(programme)
    rate = programme.sample_rate
    margin = LOSSY_PEAK_MARGIN if rendering.format.lossy else LOSSLESS_PEAK_MARGIN
    ceiling = rendering.true_peak - margin
    aim = rendering.loudness
    gain = _plan_gain(blocks, rate, aim, ceiling)
    if rendering.format.lossy:
        shift, overshoot = _codec_shift(programme, destination, rendering, gain, ceiling,
                                        blocks)  # fmt: skip
        aim -= shift
        ceiling = min(ceiling, rendering.true_peak - PEAK_GUARD - overshoot - CODEC_PEAK_SAFETY)
        gain = _plan_gain(blocks, rate, aim, ceiling)
    peak_limit = rendering.true_peak - PEAK_GUARD
    for attempt in range(1, MAX_PASSES + 1):
        limiter = Limiter(rate, ceiling)
        sink = open_sink(destination, rendering.format, rate, rendering.bitrate, chapters)
        _render(programme, sink, rendering, gain, limiter, limiter.stream(blocks, gain))
        loudness, peak = _measure_file(destination, rendering.format, rate)
        logger.debug("pass %d: gain %+.2f dB, ceiling %.2f dBTP -> %.2f LUFS, %.2f dBTP",
                     attempt, gain, ceiling, loudness, peak)  # fmt: skip
        if math.isinf(loudness):
            break
        if abs(loudness - rendering.loudness) <= LOUDNESS_TOLERANCE and peak <= peak_limit:
            break
        if attempt == MAX_PASSES:
            logger.warning("loudness %.1f LUFS, true peak %.1f dBTP after %d passes",
                           loudness, peak, attempt)  # fmt: skip
            break
        if peak > peak_limit:
            ceiling -= peak - peak_limit + 0.1
        aim += rendering.loudness - loudness
        gain = _plan_gain(blocks, rate, aim, ceiling)
    write_tags(destination, rendering.format, rendering.tags, chapters, rendering.cover)
    return Mastered(loudness, peak, gain, attempt, ceiling)


def export_range(
    programme: Programme,
    destination: Path,
    rendering: Rendering,
    mastered: Mastered,
    start: int,
    stop: int,
) -> None:
    """Write samples [start, stop) with the processing *mastered* chose for the whole.

    Used for one file per chapter: every part gets the same gain and limiting as
    the complete narration, so the parts match each other and the whole.
    """
    limiter = Limiter(programme.sample_rate, mastered.ceiling)
    reduction = limiter.stream(_analysis(programme), mastered.gain)
    start = start // BLOCK * BLOCK
    sink = open_sink(destination, rendering.format, programme.sample_rate, rendering.bitrate)
    _render(programme, sink, rendering, mastered.gain, limiter, reduction, start, stop)
    write_tags(destination, rendering.format, rendering.tags, cover=rendering.cover)


def _measure_file(path: Path, fmt: AudioFormat, rate: int) -> tuple[float, float]:
    """(loudness, true peak) of a file narrator wrote, decoded at its own rate."""
    native = output_rate(fmt, rate)
    return measure(decode_blocks(path, fmt, native), native)


def _analysis(programme: Programme) -> Blocks:
    """True peaks and K-weighted energies of every block of *programme*."""
    programme.finish()
    return programme.analysis


CALIBRATION_SECONDS = 30.0

CODEC_PEAK_SAFETY = 0.25
"""dB kept under the ceiling beyond the peak lift measured on the excerpt."""
"""Length of the excerpt encoded to learn how much the lossy codec moves the loudness."""


def _codec_shift(
    programme: Programme,
    destination: Path,
    rendering: Rendering,
    gain: float,
    ceiling: float,
    blocks: Blocks,
) -> tuple[float, float]:
    """(LU the codec moves the loudness by, dB it lifts true peaks by), on an excerpt.

    Lossy codecs drop the highest frequencies, which K-weighting counts, so an
    encoded file measures a little quieter than what went into the encoder; and
    their quantization noise rides on the peaks, lifting them over the limiter's
    ceiling.
    """
    rate = programme.sample_rate
    length = round(CALIBRATION_SECONDS * rate) // BLOCK * BLOCK
    start = max(0, (programme.length - length) // 2) // BLOCK * BLOCK
    stop = min(programme.length, start + length)
    limiter = Limiter(rate, ceiling)
    reduction = limiter.stream(blocks, gain)
    excerpt = destination.with_name(destination.name + ".excerpt")
    try:
        sink = open_sink(excerpt, rendering.format, rate, rendering.bitrate)
        before = LoudnessMeter(rate)
        _render(programme, sink, rendering, gain, limiter, reduction, start, stop, before)
        after, peak = _measure_file(excerpt, rendering.format, rate)
    finally:
        excerpt.unlink(missing_ok=True)
    if math.isinf(after) or math.isinf(before.integrated):
        return 0.0, 0.0
    shift, overshoot = after - before.integrated, max(0.0, peak - before.true_peak)
    logger.debug("codec on a %.0f s excerpt: loudness %+.2f LU, peaks %+.2f dB",
                 (stop - start) / rate, shift, overshoot)  # fmt: skip
    return shift, overshoot


def _predict(blocks: Blocks, rate: int, gain: float, limiter: Limiter) -> float:
    """Loudness of the programme after *gain* and *limiter*, from its block analysis."""
    pieces = limiter.stream(blocks, gain).pieces()
    return predicted_loudness_stream(
        blocks, ((first, gain - reduction) for first, reduction in pieces), rate
    )


def _plan_gain(blocks: Blocks, rate: int, target: float, ceiling: float) -> float:
    """The gain that brings the limited programme to *target*, found by the secant method.

    The gain never asks the limiter for more than it can take off the loudest block: when
    the target is out of reach under the ceiling, the loudest gain that stays under it wins.
    """
    limiter = Limiter(rate, ceiling)
    unity = ((first, np.zeros(min(PIECE, len(blocks) - first)))
             for first in range(0, len(blocks), PIECE))  # fmt: skip
    source = predicted_loudness_stream(blocks, unity, rate)
    if math.isinf(source):
        logger.warning("the narration is silent; it is written without loudness normalization")
        return 0.0
    most = ceiling + Limiter.MAX_REDUCTION_DB - blocks.loudest_db
    g0 = min(target - source, most)
    l0 = _predict(blocks, rate, g0, limiter)
    g1 = min(g0 + (target - l0), most)
    for _ in range(8):
        l1 = _predict(blocks, rate, g1, limiter)
        if abs(l1 - target) < 0.02 or l1 == l0:
            break
        g0, l0, g1 = g1, l1, min(g1 + (target - l1) * (g1 - g0) / (l1 - l0), most)
    return g1


Reduction = Callable[[int, int], np.ndarray]
"""The limiter's reduction (dB) of blocks [start, stop)."""


def _render(
    programme: Programme,
    sink: Sink,
    rendering: Rendering,
    gain_db: float,
    limiter: Limiter,
    reduction: ReductionStream,
    begin: int = 0,
    end: int | None = None,
    meter: LoudnessMeter | None = None,
) -> None:
    """Gain, limit and add room tone to samples [begin, end) of *programme*, into *sink*."""
    end = programme.length if end is None else end
    room_tone = RoomTone(rendering.room_tone_db, programme.sample_rate)
    try:
        for start in range(begin, end, CHUNK):
            stop = min(start + CHUNK, end)
            audio = render_range(programme, start, stop, gain_db, limiter, reduction.get)
            audio += room_tone.at(start - begin, len(audio))
            if meter is not None:
                meter.feed(audio)
            sink.write(audio)
    except BaseException:
        kill = getattr(sink, "kill", None)
        if kill is not None:
            kill()
        raise
    sink.close()


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
