"""Clips -> one continuous programme: trimmed, faded, and separated by the pauses asked for.

The :class:`Stitcher` lays the clips out; the :class:`Programme` it fills holds the
result on disk, with the block analysis that mastering plans from."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .loudness import BlockAnalysis
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
    """Lays conditioned clips and pauses end to end, and remembers where each segment went.

    A segment is given clip by clip (:meth:`speak`, one per engine chunk, so memory
    is bounded by a chunk however long the segment) and then closed with its pause
    (:meth:`end`); :meth:`add` does both for a list of clips.  With a *cutter*, the
    pauses that can hold a cut for mastering in pieces are adjusted to it;
    :attr:`cut` is where the pause after the last segment ended was cut, if it was."""

    def __init__(
        self, sample_rate: int, rendering: Rendering, cutter: Cutter | None = None
    ) -> None:  # fmt: skip
        self.sample_rate = sample_rate
        self.rendering = rendering
        self.position = 0
        self.spans: list[Span] = []
        self.cut: int | None = None
        self._cutter = cutter
        self._breath = np.zeros(silence_after(CHUNK_PAUSE, sample_rate), dtype=np.float32)
        self._segment: int | None = None  # where the segment being spoken began

    def lead_in(self) -> np.ndarray:
        """The room tone before the first word."""
        return self._silence(round(self.rendering.lead_in * self.sample_rate))

    def speak(self, clip: np.ndarray) -> np.ndarray:
        """The audio for one clip of the current segment: the clip conditioned, after a
        short breath if the segment has speech already (the engine chunks of one
        sentence)."""
        if self._segment is None:
            self._segment = self.position
        conditioned = condition(clip, self.sample_rate, self.rendering.fade)
        if not len(conditioned):
            return conditioned
        if self.position > self._segment:
            conditioned = np.concatenate([self._breath, conditioned])
        self.position += len(conditioned)
        return conditioned

    def end(self, pause: float) -> np.ndarray:
        """Close the current segment: the silence of its *pause* (after a cut, if the
        cutter made one), and where its speech went in :attr:`spans`."""
        begin = self.position if self._segment is None else self._segment
        self._segment = None
        speech = self.position - begin
        start = begin + (round(ONSET_MARGIN * self.sample_rate) if speech else 0)
        gap = silence_after(pause, self.sample_rate) if pause > 0 else 0
        cut = self._cutter(self.position, gap) if self._cutter else None
        self.cut, gap = cut if cut is not None else (None, gap)
        end = begin + max(speech - round(RELEASE_MARGIN * self.sample_rate), 0)
        self.spans.append(Span(start, max(start, end)))
        return self._silence(gap)

    def add(self, clips: list[np.ndarray], pause: float) -> np.ndarray:
        """The audio for one whole segment: :meth:`speak` for each of its *clips*, then
        :meth:`end`."""
        audio = [self.speak(clip) for clip in clips]
        return np.concatenate([*audio, self.end(pause)])

    def tail(self) -> np.ndarray:
        """The room tone after the last word."""
        return self._silence(round(self.rendering.tail * self.sample_rate))

    def _silence(self, samples: int) -> np.ndarray:
        self.position += samples
        return np.zeros(samples, dtype=np.float32)


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
