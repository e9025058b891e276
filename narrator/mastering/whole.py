"""Mastering a whole file: the stitched programme -> a file at the target loudness,
under the peak ceiling.

Pass one (while synthesizing) writes the programme to a temporary file of raw
samples and measures its loudness on the way (:class:`narrator.stitch.Programme`).
Pass two reads it back in chunks, applies the gain and the true-peak limiter, lays
the room tone under it and encodes.  The encoded file is then decoded and measured;
a lossy codec moves the level a little, so when the result misses the target the
second pass runs again with the error corrected.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from ..encode import Sink, decode_blocks, open_sink, output_rate
from ..loudness import BLOCK, Blocks, Limiter, LoudnessMeter, ReductionStream, measure
from ..rendering import AudioFormat, Rendering
from ..stitch import Programme
from ..tags import write_tags
from ..timeline import Chapter
from .plan import (
    LOUDNESS_TOLERANCE,
    MAX_PASSES,
    PEAK_GUARD,
    Mastered,
    limiter_ceiling,
    plan_gain,
)
from .render import CHUNK, RoomTone, render_range

logger = logging.getLogger("narrator.master")  # (the name it has always logged under)


def master(
    programme: Programme,
    destination: Path,
    rendering: Rendering,
    chapters: Sequence[Chapter] = (),
) -> Mastered:
    """Write *programme* to *destination*, normalized, limited, encoded and tagged."""
    blocks = _analysis(programme)
    rate = programme.sample_rate
    ceiling = limiter_ceiling(rendering)
    aim = rendering.loudness
    gain = plan_gain(blocks, rate, aim, ceiling)
    if rendering.format.lossy:
        shift, overshoot = _codec_shift(programme, destination, rendering, gain, ceiling,
                                        blocks)  # fmt: skip
        aim -= shift
        ceiling = min(ceiling, rendering.true_peak - PEAK_GUARD - overshoot - CODEC_PEAK_SAFETY)
        gain = plan_gain(blocks, rate, aim, ceiling)
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
        gain = plan_gain(blocks, rate, aim, ceiling)
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
"""Length of the excerpt encoded to learn how much the lossy codec moves the loudness."""

CODEC_PEAK_SAFETY = 0.25
"""dB kept under the ceiling beyond the peak lift measured on the excerpt."""


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
