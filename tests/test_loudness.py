"""Loudness metering and the true-peak limiter, checked against independent measurements."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import butter, resample_poly, sosfilt

from narrator.loudness import (
    BLOCK,
    ArrayBlocks,
    BlockAnalysis,
    Limiter,
    LoudnessMeter,
    db_to_gain,
    gain_to_db,
    measure,
    predicted_loudness,
)

RATES = [16_000, 22_050, 44_100, 48_000]
PIECES = [1, 7, 333, 1001, 4097, 65_537]
"""Odd piece sizes, fed in turn, so no piece lines up with a 100 ms step."""


def signals(rate: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rate)
    t = np.arange(3 * rate) / rate

    def quiet(seconds: float) -> np.ndarray:
        return np.zeros(round(seconds * rate))

    found = {
        "noise bursts": np.concatenate(
            [
                quiet(0.5),
                0.3 * rng.standard_normal(2 * rate),
                quiet(1.0),
                0.05 * rng.standard_normal(rate),
                quiet(0.3),
                0.2 * rng.standard_normal(rate // 3),
            ]
        ),
        "tones with silences": np.concatenate(
            [
                0.5 * np.sin(2 * np.pi * 440 * t),
                quiet(2.0),
                0.1 * np.sin(2 * np.pi * 1000 * t[:rate]),
                quiet(0.7),
                0.3 * np.sin(2 * np.pi * 60 * t[: rate // 2]),
            ]
        ),
        "speech-like": speech_like(rate, rng),
        "quiet noise": 0.001 * rng.standard_normal(4 * rate),
    }
    return {name: whole_steps(x, rate) for name, x in found.items()}


def whole_steps(x: np.ndarray, rate: int) -> np.ndarray:
    """*x* padded with silence to a whole number of 100 ms steps.

    BS.1770-4 gates whole 400 ms blocks only; pyloudnorm rounds the block count and so
    counts a partial last block (as if padded with silence) when 50 ms or more are left
    over.  On whole steps the two definitions agree.
    """
    step = round(0.1 * rate)
    return np.concatenate([x, np.zeros(-len(x) % step)])


def speech_like(rate: int, rng: np.random.Generator) -> np.ndarray:
    """Syllables of harmonic tone with a varying level, pauses between words."""
    parts = []
    for _ in range(12):
        seconds = rng.uniform(0.15, 0.6)
        t = np.arange(round(seconds * rate)) / rate
        f0 = rng.uniform(90, 220)
        voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
        envelope = np.sin(np.pi * t / seconds) * db_to_gain(rng.uniform(-20, 0))
        parts += [0.2 * voice * envelope, np.zeros(round(rng.uniform(0.05, 0.8) * rate))]
    return np.concatenate(parts)


def fed_in_pieces(x: np.ndarray, rate: int) -> LoudnessMeter:
    meter = LoudnessMeter(rate)
    start = 0
    for i in range(len(x)):
        if start >= len(x):
            break
        size = PIECES[i % len(PIECES)]
        meter.feed(x[start : start + size])
        start += size
    return meter


def oversampled_peak_db(x: np.ndarray, factor: int = 8) -> float:
    """True peak the independent way: oversample the whole signal and take the sample peak."""
    return gain_to_db(float(max(np.abs(resample_poly(x, factor, 1)).max(), np.abs(x).max())))


@pytest.mark.parametrize("rate", RATES)
def test_integrated_loudness_matches_pyloudnorm(rate: int):
    for name, x in signals(rate).items():
        expected = pyloudnorm.Meter(rate).integrated_loudness(x)
        meter = fed_in_pieces(x, rate)
        assert meter.samples == len(x)
        assert abs(meter.integrated - expected) <= 0.05, (name, meter.integrated, expected)


@pytest.mark.parametrize("rate", RATES)
def test_true_peak_matches_8x_oversampling(rate: int):
    for name, x in signals(rate).items():
        meter = fed_in_pieces(x, rate)
        assert abs(meter.true_peak - oversampled_peak_db(x)) <= 0.5, name


def test_true_peak_sees_intersample_peaks():
    # A tone at a quarter of the rate, sampled 45 degrees off its crests: every sample is
    # at 0.707 of the peak, and the true peak is 3 dB above the sample peak.
    rate = 48_000
    n = np.arange(rate)
    x = 0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4)
    sample_peak = gain_to_db(float(np.abs(x).max()))
    integrated, peak = measure([x[:1000], x[1000:]], rate)
    assert abs(peak - gain_to_db(0.5)) <= 0.2
    assert peak - sample_peak > 2.5
    assert abs(integrated - pyloudnorm.Meter(rate).integrated_loudness(x)) <= 0.05


def test_pieces_of_any_size_give_the_same_answer():
    rate = 22_050
    x = signals(rate)["speech-like"]
    whole = LoudnessMeter(rate)
    whole.feed(x)
    pieces = fed_in_pieces(x, rate)
    assert pieces.integrated == pytest.approx(whole.integrated, abs=1e-9)
    assert pieces.true_peak == pytest.approx(whole.true_peak, abs=1e-9)


def test_silence_and_short_input():
    rate = 16_000
    meter = LoudnessMeter(rate)
    assert meter.integrated == -math.inf
    assert meter.true_peak == -math.inf
    meter.feed(np.zeros(0))
    meter.feed(np.zeros(rate))
    assert meter.integrated == -math.inf
    assert meter.true_peak == -math.inf
    short = LoudnessMeter(rate)
    short.feed(0.5 * np.sin(2 * np.pi * 1000 * np.arange(rate // 4) / rate))
    assert short.integrated == -math.inf  # under one 400 ms gating block
    assert short.true_peak == pytest.approx(gain_to_db(0.5), abs=0.1)


def test_a_partial_last_step_is_not_counted():
    # Only whole 400 ms blocks are gated: 60 ms of loud noise after the last whole
    # 100 ms step changes nothing.
    rate = 16_000
    x = signals(rate)["tones with silences"]
    loud_end = np.concatenate([x, 0.9 * np.random.default_rng(0).standard_normal(960)])
    assert fed_in_pieces(loud_end, rate).integrated == pytest.approx(
        fed_in_pieces(x, rate).integrated, abs=1e-9
    )


def test_gain_conversions():
    assert db_to_gain(-6.0) == pytest.approx(0.501, abs=1e-3)
    assert gain_to_db(1.0) == 0.0
    assert gain_to_db(0.0) == -math.inf
    assert gain_to_db(db_to_gain(-17.3)) == pytest.approx(-17.3)


def block_peaks_db(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    analysis = BlockAnalysis(rate)
    for start in range(0, len(x), 3001):
        analysis.feed(x[start : start + 3001])
    peaks, energies = analysis.finish()
    with np.errstate(divide="ignore"):
        return 20 * np.log10(peaks.astype(np.float64)), energies


@pytest.mark.parametrize("ceiling", [-1.0, -3.0, -9.0])
def test_limiter_keeps_every_block_under_the_ceiling(ceiling: float):
    rate = 22_050
    rng = np.random.default_rng(7)
    peaks_db = rng.uniform(-30, 12, 5000)
    peaks_db[rng.integers(0, 5000, 40)] = 30.0  # isolated spikes
    peaks_db[1000:1003] = -math.inf  # digital silence
    limiter = Limiter(rate, ceiling)
    reduction = limiter.reduction(peaks_db)
    assert reduction.shape == peaks_db.shape
    assert np.all(reduction >= 0)
    assert np.all(peaks_db - reduction <= ceiling + 1e-9)


def test_limiter_holds_a_loud_start():
    # Nothing comes before the first block to ramp over: it is reduced from the start.
    reduction = Limiter(16_000, -1.0).reduction(np.full(100, 6.0))
    assert reduction == pytest.approx(np.full(100, 7.0))


def test_limiter_leaves_quiet_signals_alone():
    limiter = Limiter(44_100, -2.0)
    peaks_db = np.random.default_rng(3).uniform(-60, -2.5, 3000)
    assert np.all(limiter.reduction(peaks_db) == 0.0)
    assert len(limiter.reduction(np.zeros(0))) == 0


def test_limiter_reduces_a_spike_by_what_it_needs_and_lets_go():
    rate = 16_000
    limiter = Limiter(rate, -2.0)
    peaks_db = np.full(4000, -20.0)
    peaks_db[2000] = 4.0  # needs 6 dB
    reduction = limiter.reduction(peaks_db)
    assert reduction.max() == pytest.approx(6.0)
    assert reduction[2000] == pytest.approx(6.0)
    # The attack starts a few blocks ahead, not seconds ahead.
    before = np.flatnonzero(reduction[:2000] > 0)
    assert 2000 - before[0] <= limiter.lookahead + 3
    # Released at the stated rate: back to nothing within 6 dB / rate (+ the hold).
    release_blocks = math.ceil(6.0 / limiter.release_per_block)
    assert np.all(reduction[2000 + release_blocks + limiter.lookahead + 4 :] == 0.0)
    steps = np.diff(reduction[2003:2050])
    assert np.all(steps >= -limiter.release_per_block - 1e-9)


def test_limited_audio_true_peak_is_under_the_ceiling():
    # Apply the limiter's per-sample gains to loud audio and measure it independently.
    rate = 22_050
    rng = np.random.default_rng(11)
    x = speech_like(rate, rng) * 20.0  # far over full scale
    ceiling = -3.0
    peaks_db, _ = block_peaks_db(x, rate)
    limiter = Limiter(rate, ceiling)
    reduction = limiter.reduction(peaks_db)
    limited = x * limiter.sample_gains(reduction, len(x))
    assert oversampled_peak_db(limited, 4) <= ceiling + 0.1
    assert oversampled_peak_db(x, 4) > 10.0


@pytest.mark.parametrize("rate", RATES)
def test_predicted_loudness_with_zero_gain_matches_the_meter(rate: int):
    for name, x in signals(rate).items():
        peaks_db, energies = block_peaks_db(x, rate)
        assert len(energies) == -(-len(x) // BLOCK)
        predicted = predicted_loudness(energies, np.zeros(len(energies)), rate)
        meter = fed_in_pieces(x, rate)
        assert abs(predicted - meter.integrated) <= 0.2, name


def test_predicted_loudness_follows_a_gain():
    rate = 16_000
    x = signals(rate)["speech-like"]
    _, energies = block_peaks_db(x, rate)
    zero = predicted_loudness(energies, np.zeros(len(energies)), rate)
    assert predicted_loudness(energies, np.full(len(energies), -6.0), rate) == pytest.approx(
        zero - 6.0, abs=1e-9
    )
    meter = fed_in_pieces(x * db_to_gain(4.5), rate)
    predicted = predicted_loudness(energies, np.full(len(energies), 4.5), rate)
    assert abs(predicted - meter.integrated) <= 0.2


def spiky_peaks_db(seed: int, count: int, spikes: int) -> np.ndarray:
    """Random block peaks (dB) from -30 to +12, with *spikes* of them at +35."""
    rng = np.random.default_rng(seed)
    peaks_db = rng.uniform(-30, 12, count)
    peaks_db[rng.integers(0, count, spikes)] = 35.0
    return peaks_db


def test_reduction_made_piece_by_piece_equals_the_whole():
    peaks_db = spiky_peaks_db(11, 200_000, 300)
    limiter = Limiter(22_050, -3.0)
    whole = limiter.reduction(peaks_db)
    stream = limiter.stream(peaks_db)
    pieces = [stream.get(max(0, s - 40), s + 5000)[min(s, 40) :] for s in range(0, 200_000, 5000)]
    stitched = np.concatenate([p[:5000] for p in pieces])
    assert np.allclose(stitched, whole, atol=1e-9)


def test_a_stretch_of_reduction_from_its_context_equals_the_whole():
    peaks_db = spiky_peaks_db(12, 50_000, 100)
    limiter = Limiter(22_050, -3.0)
    whole = limiter.reduction(peaks_db)
    blocks = ArrayBlocks(peaks_db)
    for start, stop in [(0, 900), (17_000, 21_000), (49_000, 50_000), (3, 4)]:
        assert np.allclose(limiter.stretch(blocks, 0.0, start, stop), whole[start:stop],
                           atol=1e-9)  # fmt: skip


def test_touch_up_pulls_peaks_left_over_back_under_the_ceiling():
    # Whatever the first stage left over the ceiling (gain changes move inter-sample
    # peaks), the touch-up stage measures on its output and limits again.
    rate = 22_050
    rng = np.random.default_rng(5)
    x = sosfilt(butter(8, 6000, fs=rate, output="sos"), rng.standard_normal(rate * 4))
    x *= db_to_gain(-9.0) / np.abs(x).max()  # peaks about 9 dB under full scale
    limiter = Limiter(rate, -6.0)

    def true_peak_db(signal: np.ndarray) -> float:
        meter = LoudnessMeter(rate)
        meter.feed(signal)
        return meter.true_peak

    assert np.array_equal(limiter.touch_up(x), x)  # already under: untouched
    over = x.copy()
    over[30_000:30_064] *= db_to_gain(4.0) / np.abs(over[30_000:30_064]).max() * db_to_gain(-6.0)
    assert true_peak_db(over) > -6.0 + 3.5  # a burst about 4 dB over the ceiling
    fixed = limiter.touch_up(over)
    assert true_peak_db(fixed) <= -6.0 + 0.01
    assert np.array_equal(fixed[:25_000], x[:25_000])  # only where it was needed
