"""Clips -> one continuous programme: trimmed, faded, and separated by the pauses asked for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .rendering import Rendering

FRAME = 0.010
"""Seconds per analysis frame when looking for where speech starts and ends."""

SPEECH_THRESHOLD_DB = -40.0
"""A frame counts as speech when its RMS is within this many dB of the clip's loudest frame."""

ONSET_MARGIN = 0.015
"""Seconds kept before the first speech frame, for soft onsets (h, f, s)."""

RELEASE_MARGIN = 0.035
"""Seconds kept after the last speech frame, for decaying endings."""

CHUNK_PAUSE = 0.2
"""Seconds between the chunks of a sentence that was too long for the engine."""


@dataclass(frozen=True)
class Span:
    """Where one segment's speech sits in the programme, in samples."""

    start: int
    end: int


def speech_bounds(clip: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """(first, last + 1) sample of the speech in *clip*, or None if it is silent."""
    frame = max(1, round(FRAME * sample_rate))
    count = len(clip) // frame
    if count == 0:
        return None
    frames = clip[: count * frame].astype(np.float64).reshape(count, frame)
    rms = np.sqrt((frames**2).mean(axis=1))
    loudest = rms.max()
    if loudest < 1e-5:
        return None
    voiced = np.flatnonzero(rms >= loudest * 10 ** (SPEECH_THRESHOLD_DB / 20))
    return int(voiced[0]) * frame, min(len(clip), (int(voiced[-1]) + 1) * frame)


def condition(clip: np.ndarray, sample_rate: int, fade: float) -> np.ndarray:
    """Trim *clip* to its speech plus small margins and fade both ends to zero."""
    bounds = speech_bounds(clip, sample_rate)
    if bounds is None:
        return np.zeros(0, dtype=np.float32)
    start = max(0, bounds[0] - round(ONSET_MARGIN * sample_rate))
    end = min(len(clip), bounds[1] + round(RELEASE_MARGIN * sample_rate))
    out = clip[start:end].astype(np.float32)
    out = out - np.float32(out.mean())  # no DC step at the joins
    n = min(round(fade * sample_rate), len(out) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def silence_after(pause: float, sample_rate: int) -> int:
    """Samples of silence to insert so the gap between two segments' speech is *pause*.

    The margins kept around each clip already count towards the pause.
    """
    margins = ONSET_MARGIN + RELEASE_MARGIN
    return max(0, round((pause - margins) * sample_rate))


Cutter = Callable[[int, int], "tuple[int, int] | None"]
"""Given where a segment's speech ends and the silence after it (samples), where the
programme may be cut in that silence and how long the silence becomes, or None."""


class Stitcher:
    """Lays conditioned clips and pauses end to end, and remembers where each one went.

    With a *cutter*, the pauses that can hold a cut for mastering in pieces are
    adjusted to it; :attr:`cut` is where the pause after the last segment added was
    cut, if it was."""

    def __init__(
        self, sample_rate: int, rendering: Rendering, cutter: Cutter | None = None
    ) -> None:  # fmt: skip
        self.sample_rate = sample_rate
        self.rendering = rendering
        self.position = 0
        self.spans: list[Span] = []
        self.cut: int | None = None
        self._cutter = cutter

    def lead_in(self) -> np.ndarray:
        """The room tone before the first word."""
        return self._silence(round(self.rendering.lead_in * self.sample_rate))

    def add(self, clips: list[np.ndarray], pause: float) -> np.ndarray:
        """The audio for one segment: its conditioned clips (the engine chunks of one
        sentence, a short breath apart) followed by its pause."""
        breath = np.zeros(silence_after(CHUNK_PAUSE, self.sample_rate), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for clip in clips:
            conditioned = condition(clip, self.sample_rate, self.rendering.fade)
            if len(conditioned):
                pieces.extend([breath, conditioned] if pieces else [conditioned])
        speech = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        start = self.position + (round(ONSET_MARGIN * self.sample_rate) if len(speech) else 0)
        gap = silence_after(pause, self.sample_rate) if pause > 0 else 0
        cut = self._cutter(self.position + len(speech), gap) if self._cutter else None
        self.cut, gap = cut if cut is not None else (None, gap)
        audio = np.concatenate([speech, np.zeros(gap, dtype=np.float32)])
        end = self.position + max(len(speech) - round(RELEASE_MARGIN * self.sample_rate), 0)
        self.spans.append(Span(start, max(start, end)))
        self.position += len(audio)
        return audio

    def tail(self) -> np.ndarray:
        """The room tone after the last word."""
        return self._silence(round(self.rendering.tail * self.sample_rate))

    def _silence(self, samples: int) -> np.ndarray:
        self.position += samples
        return np.zeros(samples, dtype=np.float32)
