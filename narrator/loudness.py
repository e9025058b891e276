"""Loudness (ITU-R BS.1770-4 / EBU R128) and a true-peak limiter, both streaming.

The meter keeps only 100 ms block energies, so a book of any length is measured
in constant memory.  The limiter works on chunks read from disk with enough
context around each chunk that chunked processing gives exactly the result of
processing the whole programme at once.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache

import numpy as np

from .dsp import FIRStream, k_weighting_taps, lowpass_taps

ABSOLUTE_GATE = -70.0
"""LUFS below which a gating block is ignored (BS.1770-4)."""

RELATIVE_GATE = -10.0
"""LU below the absolute-gated loudness where the relative gate sits."""

SILENCE = -math.inf
"""The loudness or peak of a signal with nothing above the absolute gate."""

_LOUDNESS_OFFSET = -0.691


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(gain) if gain > 0 else SILENCE


TRUE_PEAK_OVERSAMPLING = 4
"""BS.1770-4 Annex 2: true peak is the sample peak of the signal oversampled four times."""

_TAPS = 12
"""Taps per phase of the 48-tap interpolation filter (BS.1770-4 Annex 2)."""

_BEFORE, _AFTER = _TAPS // 2 - 1, _TAPS // 2
"""Samples of context the interpolator needs before and after a stretch."""

CANDIDATE_RANGE_DB = 12.0
"""Blocks whose sample peak is further than this under the loudest one seen are not
oversampled: their true peak cannot matter to the limiter or the meter."""


@lru_cache(maxsize=1)
def _interpolator() -> np.ndarray:
    """Matrix (taps x phases) mapping 12 consecutive samples to the 4 oversampled values
    that lie between the 6th and 7th of them."""
    factor = TRUE_PEAK_OVERSAMPLING
    h = lowpass_taps(_TAPS * factor, 1.0 / factor) * factor
    return np.array([[h[factor * (_TAPS - 1 - m) + q] for q in range(factor)]
                     for m in range(_TAPS)])  # fmt: skip


def block_true_peaks(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Linear true peak of ``x[s : s + length]`` for each ``s`` in *starts*.

    *x* must hold 5 samples of context before and 6 after every block (pad
    with zeros at the ends of a programme).
    """
    if len(starts) == 0:
        return np.zeros(0)
    rows = np.lib.stride_tricks.sliding_window_view(x, length + _TAPS - 1)[starts - _BEFORE]
    windows = np.lib.stride_tricks.sliding_window_view(rows, _TAPS, axis=1)
    between = np.abs(windows @ _interpolator()).max(axis=(1, 2))
    samples = np.abs(rows[:, _BEFORE : _BEFORE + length]).max(axis=1)
    return np.asarray(np.maximum(between, samples))


class BlockPeaks:
    """Per-block true peaks of a stream: oversampled only where they can matter."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.loudest = 0.0
        self._history = np.zeros(_BEFORE)
        self._pending = np.zeros(0)

    def feed(self, x: np.ndarray, final: bool = False) -> np.ndarray:
        """Peaks of the whole blocks now available (all of them when *final*)."""
        pending = np.concatenate([self._pending, x])
        usable = len(pending) if final else len(pending) - _AFTER
        count = -(-usable // self.block) if final else max(0, usable // self.block)
        if count <= 0:
            self._pending = pending
            return np.zeros(0)
        size = count * self.block
        body = np.zeros(size)
        body[: min(size, len(pending))] = pending[:size]
        after = pending[size : size + _AFTER]
        context = np.concatenate([self._history, body, after, np.zeros(_AFTER - len(after))])
        peaks = np.abs(body).reshape(count, self.block).max(axis=1)
        self.loudest = max(self.loudest, float(peaks.max()))
        candidates = np.flatnonzero(peaks >= self.loudest * db_to_gain(-CANDIDATE_RANGE_DB))
        if len(candidates):
            starts = candidates * self.block + _BEFORE
            peaks[candidates] = block_true_peaks(context, starts, self.block)
            self.loudest = max(self.loudest, float(peaks.max()))
        self._history = body[len(body) - _BEFORE :]
        self._pending = pending[size:]
        return peaks


class LoudnessMeter:
    """Integrated loudness and true peak of a mono stream fed in pieces of any size."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._kweighting = KWeighting(sample_rate)
        self._step = round(0.1 * sample_rate)  # 100 ms: a quarter of a 400 ms gating block
        self._partial = np.zeros(0)
        self._energies: list[float] = []
        self._peaks = BlockPeaks(4096)
        self.samples = 0

    def feed(self, audio: np.ndarray) -> None:
        """Add the next *audio* samples (float, mono) to the measurement."""
        if not len(audio):
            return
        x = audio.astype(np.float64)
        self.samples += len(x)
        self._feed_true_peak(x)
        x = self._kweighting(x)
        squares = np.concatenate([self._partial, x * x])
        whole = len(squares) // self._step * self._step
        if whole:
            self._energies.extend(squares[:whole].reshape(-1, self._step).mean(axis=1).tolist())
        self._partial = squares[whole:]

    def _feed_true_peak(self, x: np.ndarray) -> None:
        self._peaks.feed(x)

    @property
    def true_peak(self) -> float:
        """True peak so far, dBTP."""
        self._peaks.feed(np.zeros(0), final=True)
        return gain_to_db(self._peaks.loudest)

    @property
    def integrated(self) -> float:
        """Gated integrated loudness so far, LUFS (``-inf`` for silence)."""
        return integrated_loudness(np.asarray(self._energies))


def integrated_loudness(quarters: np.ndarray) -> float:
    """Gated integrated loudness (LUFS) from the mean K-weighted energy of consecutive
    100 ms steps: the 400 ms gating blocks overlap by 75 %, as BS.1770 asks."""
    if len(quarters) < 4:
        return SILENCE
    return _gated_loudness(np.lib.stride_tricks.sliding_window_view(quarters, 4).mean(axis=1))


def step_sums(squares: np.ndarray, first: int, step: int) -> tuple[int, np.ndarray]:
    """Sums of *squares* (the squared K-weighted samples from sample *first* of a stream
    on) over the stream's 100 ms steps of *step* samples: (index of the first step, sums).
    Steps cut by either end get the part that lies in *squares*."""
    index = first // step
    edges = np.arange((index + 1) * step - first, len(squares), step)
    starts = np.concatenate([[0], edges]).astype(np.intp)
    return index, np.add.reduceat(squares, starts) if len(squares) else np.zeros(0)


def _gated_loudness(block_energies: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        loudness = _LOUDNESS_OFFSET + 10.0 * np.log10(block_energies)
    above_absolute = block_energies[loudness > ABSOLUTE_GATE]
    if not len(above_absolute):
        return SILENCE
    relative = _LOUDNESS_OFFSET + 10.0 * np.log10(above_absolute.mean()) + RELATIVE_GATE
    gated = block_energies[(loudness > ABSOLUTE_GATE) & (loudness > relative)]
    return float(_LOUDNESS_OFFSET + 10.0 * np.log10(gated.mean()))


def measure(chunks: Iterable[np.ndarray], sample_rate: int) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) of a stream of chunks."""
    meter = LoudnessMeter(sample_rate)
    for chunk in chunks:
        meter.feed(chunk)
    return meter.integrated, meter.true_peak


class KWeighting:
    """The BS.1770 K-weighting filter (pre-filter and RLB high-pass), applied to a
    stream piece by piece.  It runs as an FIR filter made of the two biquads'
    impulse response, which is exact to within 1e-10 (see :mod:`narrator.dsp`)."""

    def __init__(self, sample_rate: int) -> None:
        self._filter = FIRStream(k_weighting_taps(sample_rate))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._filter(np.asarray(x, dtype=np.float64))


BLOCK = 32
"""Samples per analysis block: the limiter's time resolution."""


class Blocks:
    """Per-block true peaks (dB) and K-weighted energies of a programme, read a range at
    a time, so that a whole book's never needs to be in memory at once."""

    def __len__(self) -> int:
        raise NotImplementedError

    def peaks_db(self, start: int, stop: int) -> np.ndarray:
        """True peaks of blocks [start, stop), dB (``-inf`` for digital silence)."""
        raise NotImplementedError

    def energies(self, start: int, stop: int) -> np.ndarray:
        """K-weighted energies (sums of squares) of blocks [start, stop)."""
        raise NotImplementedError

    @property
    def loudest_db(self) -> float:
        """The highest block true peak, dB."""
        raise NotImplementedError


class ArrayBlocks(Blocks):
    """:class:`Blocks` held in two arrays."""

    def __init__(self, peaks_db: np.ndarray, energies: np.ndarray | None = None) -> None:
        self._peaks_db = np.asarray(peaks_db)
        self._energies = np.zeros(len(peaks_db)) if energies is None else np.asarray(energies)

    def __len__(self) -> int:
        return len(self._peaks_db)

    def peaks_db(self, start: int, stop: int) -> np.ndarray:
        return self._peaks_db[max(0, start) : stop]

    def energies(self, start: int, stop: int) -> np.ndarray:
        return self._energies[max(0, start) : stop]

    @property
    def loudest_db(self) -> float:
        return float(np.max(self._peaks_db)) if len(self._peaks_db) else SILENCE


def as_blocks(blocks: Blocks | np.ndarray) -> Blocks:
    return blocks if isinstance(blocks, Blocks) else ArrayBlocks(blocks)


class BlockAnalysis(Blocks):
    """Per-block true peak and K-weighted energy of a stream, kept while synthesizing.

    With them the effect of any gain followed by the limiter on the programme's
    loudness can be predicted without touching the audio again.  They take 8 bytes
    per block of 32 samples (about 20 MiB per hour at 22.05 kHz) in a temporary
    file, not in memory, and are read back a range at a time.  One thread may feed
    it while others read the blocks analysed so far.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._kweighting = KWeighting(sample_rate)
        self._pending = np.zeros(0, dtype=np.float32)
        self._block_peaks = BlockPeaks(BLOCK)
        # Lives as long as the analysis (the programme closes it).
        self._files = {name: tempfile.TemporaryFile(prefix=f"narrator-{name}-")  # noqa: SIM115
                       for name in ("peaks", "energies")}  # fmt: skip
        self._counts = {"peaks": 0, "energies": 0}
        self._loudest = 0.0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.available

    @property
    def available(self) -> int:
        """Blocks whose peak and energy are known."""
        return min(self._counts.values())

    def view(self, count: int) -> Blocks:
        """The first *count* blocks, as they are now (while more are being fed)."""
        return _Prefix(self, min(count, self.available))

    def feed(self, audio: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, np.asarray(audio, dtype=np.float32)])
        if len(self._pending) >= 8192:
            self._analyse(final=False)

    def flush(self) -> None:
        """Analyse what is left (the stream has ended)."""
        self._analyse(final=True)

    def catch_up(self) -> None:
        """Analyse every whole block fed so far (but the few samples the true peak of
        the last one waits for), however few: for a stream mastered as it comes."""
        self._analyse(final=False)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Analyse what is left; (true peak, K-weighted energy) of every block, read
        into memory (for tests and small programmes: the rest reads ranges)."""
        self.flush()
        return self.blocks(0, self.available)

    def blocks(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Linear true peaks and energies of the analysed blocks in [start, stop)."""
        stop = min(stop, self.available)
        return self._read("peaks", start, stop), self._read("energies", start, stop)

    def peaks_db(self, start: int, stop: int) -> np.ndarray:
        peaks = self._read("peaks", start, min(stop, self.available))
        with np.errstate(divide="ignore"):
            return np.asarray(20.0 * np.log10(peaks), dtype=np.float32)

    def energies(self, start: int, stop: int) -> np.ndarray:
        return self._read("energies", start, min(stop, self.available))

    @property
    def loudest_db(self) -> float:
        return gain_to_db(self._loudest)

    def close(self) -> None:
        for f in self._files.values():
            f.close()

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        start = max(0, start)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        data = os.pread(self._files[name].fileno(), (stop - start) * 4, start * 4)
        return np.frombuffer(data, dtype="<f4")

    def _append(self, name: str, values: np.ndarray) -> None:
        if len(values):
            os.write(self._files[name].fileno(), np.asarray(values, dtype="<f4").tobytes())
        with self._lock:
            self._counts[name] += len(values)

    def _analyse(self, final: bool) -> None:
        pending = self._pending.astype(np.float64)
        whole = len(pending) if final else len(pending) // BLOCK * BLOCK
        peaks = self._block_peaks.feed(pending[:whole], final=final)
        if len(peaks):
            self._loudest = max(self._loudest, float(peaks.max()))
        self._append("peaks", peaks)
        body = np.zeros(-(-whole // BLOCK) * BLOCK)
        body[:whole] = pending[:whole]
        if len(body):
            weighted = self._kweighting(body)
            self._append("energies", (weighted * weighted).reshape(-1, BLOCK).sum(axis=1))
        self._pending = self._pending[whole:]


class _Prefix(Blocks):
    def __init__(self, blocks: BlockAnalysis, count: int) -> None:
        self._blocks, self._count = blocks, count
        self._loudest = float(np.max(blocks.peaks_db(0, count), initial=SILENCE))

    def __len__(self) -> int:
        return self._count

    def peaks_db(self, start: int, stop: int) -> np.ndarray:
        return self._blocks.peaks_db(start, min(stop, self._count))

    def energies(self, start: int, stop: int) -> np.ndarray:
        return self._blocks.energies(start, min(stop, self._count))

    @property
    def loudest_db(self) -> float:
        return self._loudest


def predicted_loudness(energies: np.ndarray, gain_db: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of the programme with a per-block gain (dB) applied."""
    weighted = energies * 10.0 ** (gain_db / 10.0)
    per = max(1, round(0.1 * sample_rate / BLOCK))
    whole = len(weighted) // per * per
    if whole < 4 * per:
        return SILENCE
    quarter = weighted[:whole].reshape(-1, per).sum(axis=1) / (per * BLOCK)
    blocks = np.lib.stride_tricks.sliding_window_view(quarter, 4).mean(axis=1)
    return _gated_loudness(blocks)


class Limiter:
    """A look-ahead true-peak limiter driven by per-block true peaks.

    The reduction each block needs is held over the look-ahead window, ramped in
    linearly over ``attack`` seconds and released at ``release_rate`` dB per
    second.  Each step can only raise the reduction, so every block ends at or
    under the ceiling.
    """

    MAX_REDUCTION_DB = 40.0

    def __init__(
        self, sample_rate: int, ceiling_db: float, *, attack: float = 0.005,
        release_rate: float = 80.0,
    ) -> None:  # fmt: skip
        self.sample_rate = sample_rate
        self.ceiling_db = ceiling_db
        self.lookahead = max(1, round(attack * sample_rate / BLOCK))
        self.release_per_block = release_rate * BLOCK / sample_rate
        release_blocks = math.ceil(self.MAX_REDUCTION_DB / self.release_per_block)
        self.context = release_blocks + 2 * self.lookahead + 4
        """Blocks of context needed each side of a stretch for an exact result."""

    def reduction(self, peaks_db: np.ndarray) -> np.ndarray:
        """Gain reduction in dB (>= 0) for blocks whose true peaks are *peaks_db*."""
        return self.stream(peaks_db).get(0, len(peaks_db))

    def stream(self, blocks: Blocks | np.ndarray, gain: float = 0.0) -> ReductionStream:
        """The reduction for blocks whose true peaks (dB) are *blocks*' + *gain*,
        computed piece by piece as it is asked for (so a book's worth stays small)."""
        return ReductionStream(self, as_blocks(blocks), gain)

    def stretch(self, blocks: Blocks, gain: float, start: int, stop: int) -> np.ndarray:
        """The reduction of blocks [start, stop) whose true peaks are *blocks*' + *gain*,
        worked out from the blocks around them alone: exact, as the limiter forgets
        whatever lies more than :attr:`context` blocks back."""
        first, last = max(0, start - self.context), min(len(blocks), stop)
        window = blocks.peaks_db(first, min(len(blocks), last + self.lookahead + 2))
        # From the start of the context, so the release of what came before is in it.
        return self._reduction_range(window, gain, 0, last - first, -math.inf)[start - first :]

    def _reduction_range(
        self, peaks_db: np.ndarray, gain: float, start: int, stop: int, carry: float
    ) -> np.ndarray:
        """The reduction of blocks [start, stop), given the reduction before *start*."""
        n, la = len(peaks_db), self.lookahead
        # Each block's need is held over blocks j-1 .. j+la+1, so that the ramp at both
        # neighbours of a block covers it too and interpolation between them is safe.
        first, last = start - la - 1, stop + la + 1
        inside = slice(max(0, first), min(n, last))
        need = np.zeros(last - first)
        need[inside.start - first : inside.stop - first] = np.clip(
            peaks_db[inside].astype(np.float64) + gain - self.ceiling_db,
            0.0, self.MAX_REDUCTION_DB,
        )  # fmt: skip
        held = _sliding_max(need, la + 3)  # held[i] belongs to block start - la + i
        before = start - la
        if before < 0:
            # Nothing comes before the first block to ramp over: the start is held.
            head = np.clip(peaks_db[: la + 2].astype(np.float64) + gain - self.ceiling_db,
                           0.0, self.MAX_REDUCTION_DB).max(initial=0.0)  # fmt: skip
            held[:-before] = head
        # Ramp in: the mean over the la+1 blocks up to j never falls below need[j].
        ramp = np.convolve(held, np.ones(la + 1) / (la + 1), "valid")
        # Release at a constant rate in dB: rel[j] = max over k <= j of ramp[k] - (j - k) * rate.
        steps = np.arange(stop - start) * self.release_per_block
        released = np.maximum.accumulate(ramp + steps) - steps
        return np.asarray(np.maximum(released, carry - steps - self.release_per_block))

    TOUCH_UP_MAX_DB = 6.0
    """The most the touch-up stage takes off a peak that gain changes pushed over."""

    @property
    def touch_up_context(self) -> int:
        """Samples of context :meth:`touch_up` needs each side for an exact result."""
        blocks = math.ceil(self.TOUCH_UP_MAX_DB / self.release_per_block) + 2 * self.lookahead
        return (blocks + 4) * BLOCK

    def touch_up(self, x: np.ndarray) -> np.ndarray:
        """*x* (already limited) with the peaks that the gain changes created pulled back.

        Changing the gain quickly moves the inter-sample peaks of what it changes,
        so a limited signal can still peak a little over the ceiling.  This second
        stage measures the true peaks of the limited signal and limits again
        where needed.  *x* must start on a block boundary of the programme.
        """
        n = len(x)
        count = -(-n // BLOCK)
        padded = np.zeros(_BEFORE + count * BLOCK + _AFTER)
        padded[_BEFORE : _BEFORE + n] = x
        peaks = np.abs(padded[_BEFORE : _BEFORE + count * BLOCK]).reshape(count, BLOCK).max(axis=1)
        near = np.flatnonzero(peaks > db_to_gain(self.ceiling_db - 3.0))
        if not len(near):
            return x
        peaks[near] = block_true_peaks(padded, near * BLOCK + _BEFORE, BLOCK)
        with np.errstate(divide="ignore"):
            over = 20.0 * np.log10(peaks) - self.ceiling_db
        if not np.any(over > 0):
            return x
        extra = self.reduction(self.ceiling_db + np.minimum(over, self.TOUCH_UP_MAX_DB))
        return np.asarray(x * self.sample_gains(extra, n))

    def sample_gains(self, reduction: np.ndarray, samples: int) -> np.ndarray:
        """Per-sample linear gains from per-block *reduction* (dB), for *samples* samples."""
        centres = np.arange(len(reduction)) * BLOCK + (BLOCK - 1) / 2
        per_sample = np.interp(np.arange(samples), centres, reduction)
        return np.asarray(10.0 ** (-per_sample / 20.0))


class ReductionStream:
    """A limiter's reduction over a whole programme, made in pieces on demand.

    :meth:`get` must be asked for block ranges whose starts never go back by
    more than what it keeps (:attr:`KEEP` blocks).
    """

    PIECE = 1 << 15
    """Blocks computed at a time."""

    KEEP = 1 << 12
    """Blocks kept before the newest request, for overlapping requests."""

    def __init__(self, limiter: Limiter, blocks: Blocks, gain: float) -> None:
        self._limiter = limiter
        self._blocks = blocks
        self._length = len(blocks)
        self._gain = gain
        self._start = 0
        self._values = np.zeros(0)
        self._carry = -math.inf

    def get(self, start: int, stop: int) -> np.ndarray:
        """The reduction (dB) of blocks [start, stop)."""
        stop = min(stop, self._length)
        if start < self._start:
            raise ValueError("ReductionStream.get went back further than it keeps")
        while self._start + len(self._values) < stop:
            end = self._start + len(self._values)
            last = min(self._length, end + self.PIECE)
            # The blocks the limiter looks at around [end, last), read from the analysis.
            reach = self._limiter.lookahead + 2
            first = max(0, end - reach)
            window = self._blocks.peaks_db(first, min(self._length, last + reach))
            piece = self._limiter._reduction_range(
                window, self._gain, end - first, last - first, self._carry
            )
            self._carry = float(piece[-1])
            values = np.concatenate([self._values, piece])
            drop = max(0, start - self.KEEP - self._start)
            self._values, self._start = values[drop:], self._start + drop
        return self._values[start - self._start : stop - self._start]

    def pieces(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first block, reduction) for the whole programme, in order."""
        for start in range(0, self._length, self.PIECE):
            yield start, self.get(start, start + self.PIECE)


def predicted_loudness_stream(
    blocks: Blocks, gains_db: Iterator[tuple[int, np.ndarray]], sample_rate: int
) -> float:
    """Like :func:`predicted_loudness`, with the energies read from *blocks* and the
    per-block gains given piece by piece as (first block, gains) in order."""
    per = max(1, round(0.1 * sample_rate / BLOCK))
    quarters: list[np.ndarray] = []
    leftover = np.zeros(0)
    for first, gains in gains_db:
        weighted = blocks.energies(first, first + len(gains)).astype(np.float64)
        weighted = np.concatenate([leftover, weighted * 10.0 ** (gains / 10.0)])
        whole = len(weighted) // per * per
        quarters.append(weighted[:whole].reshape(-1, per).sum(axis=1) / (per * BLOCK))
        leftover = weighted[whole:]
    return integrated_loudness(np.concatenate(quarters) if quarters else np.zeros(0))


def _sliding_max(x: np.ndarray, window: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, window).max(axis=1)
