"""Small signal-processing pieces in plain numpy (no scipy import at run time)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

IMPULSE_LENGTH = 1 << 13
"""Samples of a filter's impulse response kept when it is run as an FIR filter."""


def biquad(
    kind: str, gain_db: float, q: float, frequency: float, rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook biquad coefficients (b, a), normalized so a[0] == 1."""
    a_ = 10 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * frequency / rate
    cos, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "high_shelf":
        root = 2 * math.sqrt(a_) * alpha
        b = [
            a_ * ((a_ + 1) + (a_ - 1) * cos + root),
            -2 * a_ * ((a_ - 1) + (a_ + 1) * cos),
            a_ * ((a_ + 1) + (a_ - 1) * cos - root),
        ]
        a = [
            (a_ + 1) - (a_ - 1) * cos + root,
            2 * ((a_ - 1) - (a_ + 1) * cos),
            (a_ + 1) - (a_ - 1) * cos - root,
        ]
    elif kind == "high_pass":
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    else:
        raise ValueError(kind)
    return np.array(b) / a[0], np.array(a) / a[0]


def impulse_response(b: np.ndarray, a: np.ndarray, length: int = IMPULSE_LENGTH) -> np.ndarray:
    """The first *length* samples of the impulse response of the IIR filter (b, a)."""
    out = np.zeros(length)
    x1 = x2 = y1 = y2 = 0.0
    for n in range(length):
        x0 = 1.0 if n == 0 else 0.0
        y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
        out[n] = y0
        x2, x1, y2, y1 = x1, x0, y1, y0
    return out


class FIRStream:
    """An FIR filter applied to a stream in pieces of any size (FFT overlap-add)."""

    def __init__(self, taps: np.ndarray) -> None:
        self.taps = np.asarray(taps, dtype=np.float64)
        self._tail = np.zeros(len(self.taps) - 1)
        # A long input goes through in transforms four times the filter's length, of
        # which three quarters are new samples; a short one in the smallest that fits.
        self._step = (1 << (4 * len(self.taps) - 1).bit_length()) - len(self.taps) + 1
        self._spectra: dict[int, np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n > self._step:
            return np.concatenate([self(x[i : i + self._step]) for i in range(0, n, self._step)])
        if n == 0:
            return np.zeros(0)
        size = n + len(self.taps) - 1
        nfft = 1 << (size - 1).bit_length()
        spectrum = self._spectra.get(nfft)
        if spectrum is None:
            spectrum = self._spectra[nfft] = np.fft.rfft(self.taps, nfft)
        y = np.fft.irfft(np.fft.rfft(x, nfft) * spectrum, nfft)[:size]
        y[: len(self._tail)] += self._tail
        self._tail = y[n:].copy()
        return y[:n]


@lru_cache(maxsize=8)
def k_weighting_taps(rate: int) -> np.ndarray:
    """The BS.1770 K-weighting filter (pre-filter and RLB high-pass) as FIR taps."""
    shelf = impulse_response(*biquad("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0, rate))
    high_pass = impulse_response(*biquad("high_pass", 0.0, 0.5, 38.0, rate))
    taps = np.convolve(shelf, high_pass)[:IMPULSE_LENGTH]
    return _trimmed(taps)


def _trimmed(taps: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """*taps* without the tail that has decayed under *floor* of the largest tap."""
    significant = np.flatnonzero(np.abs(taps) > floor * np.abs(taps).max())
    return taps[: int(significant[-1]) + 1]


def lowpass_taps(numtaps: int, cutoff: float) -> np.ndarray:
    """A Hamming-windowed sinc low-pass, *cutoff* relative to Nyquist, unity gain at DC."""
    n = np.arange(numtaps) - (numtaps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.hamming(numtaps)
    return h / h.sum()
