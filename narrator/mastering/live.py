"""Mastering a stream: audio at the target loudness a sentence at a time, without
seeing the whole text.

The two-pass paths know the whole narration before they fix the gain.  A stream
cannot wait, so its gain is planned from what it knows so far: the voice's
measured loudness (the *prior*, kept per voice in the cache) and the programme
stitched so far, which :func:`~narrator.mastering.plan.plan_gain` plans over at
checkpoints that grow with it.  While little has been heard the prior weighs
more; as the text goes on, the measurement takes over.  Each sentence keeps the
gain it was given (the gain only moves in the pauses between sentences), so the
whole lands near the target (within :data:`STREAM_TOLERANCE_LU`) rather than on
it.  The same look-ahead true-peak limiter as the file paths (and its touch-up
stage) runs over the gained blocks, and a block is only handed on once the
limiter has seen far enough past it: a stream holds back about 0.1 s, which lies
in the pause after each sentence.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..loudness import BLOCK, SILENCE, Blocks, Limiter, LoudnessMeter
from ..rendering import AudioFormat, Rendering
from ..stitch import Programme
from .plan import LOSSLESS_PEAK_MARGIN, LOSSY_PEAK_MARGIN, plan_gain
from .render import RoomTone

logger = logging.getLogger(__name__)

STREAM_TOLERANCE_LU = 1.0
"""How far from the target a whole stream may land (LU)."""

STREAM_PEAK_MARGINS = {AudioFormat.MP3: 0.8, AudioFormat.M4A: 0.8, AudioFormat.OPUS: 1.5}
"""dB the limiter stays under the ceiling for a lossy stream: the file paths measure
what the codec adds to the peaks and master again; a stream cannot, so it keeps room
for the most the encoders were seen to add on joe and heart reading four texts each
(MP3 and ADTS AAC at 96 kbit/s: 0.1 dB; Ogg Opus: 1.4 dB)."""

STREAM_CODEC_SHIFT = {AudioFormat.MP3: -0.5}
"""LU an encoder moves a stream's loudness by (decoded against what went in), which the
stream's aim allows for: the file paths measure it on every file; for streams it was
measured once, on joe and heart reading four texts each (MP3 at 96 kbit/s: -0.3 to
-0.8, mean -0.5; Ogg Opus and ADTS AAC within 0.3 of none)."""

PRIOR_SECONDS = 6.0
"""The voice's measured loudness counts as this many seconds of the stream's own audio,
while the stream is young."""

REPLAN_EVERY = 1.25
"""After the first :data:`EARLY_SECONDS`, the gain is planned again each time the
programme has grown by this factor (so planning costs O(n log n) over a stream)."""

LIMITER_MAKE_UP_DB = 2.5
"""The most (dB) a stream's gain exceeds what the loudness so far asks for, to make up
for what the limiter takes off."""

MAKE_UP_DB = 3.0
"""The most (dB) a sentence's gain moves from the planned one to make up for the gains
earlier sentences were given before more of the text was heard."""

EARLY_SECONDS = 30.0
"""Seconds at the start of a stream during which the gain is planned after every
sentence."""


class _Gained(Blocks):
    """The programme's block peaks with each block's gain added: what the limiter sees."""

    def __init__(self, live: LiveMaster) -> None:
        self._live = live

    def __len__(self) -> int:
        return self._live.decided

    def peaks_db(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(stop, self._live.decided)
        peaks = self._live.programme.analysis.peaks_db(start, stop).astype(np.float64)
        return peaks + self._live.block_gains(start, start + len(peaks))

    def energies(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def loudest_db(self) -> float:
        raise NotImplementedError


class LiveMaster:
    """Masters a programme as it is stitched: :meth:`append` the audio, :meth:`settle`
    after each sentence (the gain for what came since is fixed then), :meth:`take` the
    mastered samples that are ready, and :meth:`finish` at the end."""

    def __init__(self, sample_rate: int, rendering: Rendering, prior: float | None) -> None:
        self.rate = sample_rate
        self.target = rendering.loudness - STREAM_CODEC_SHIFT.get(rendering.format, 0.0)
        margin = STREAM_PEAK_MARGINS.get(rendering.format, LOSSLESS_PEAK_MARGIN)
        if rendering.format.lossy:
            margin = max(margin, LOSSY_PEAK_MARGIN)
        self.ceiling = rendering.true_peak - margin
        self.limiter = Limiter(sample_rate, self.ceiling)
        self.programme = Programme(sample_rate)
        self.prior = prior
        self.source = LoudnessMeter(sample_rate)
        """The loudness of what was stitched, before any gain (the voice's, refined)."""
        self.decided = 0
        """Blocks whose gain is fixed."""
        self.gain = 0.0
        self._starts = np.zeros(0, dtype=np.int64)  # first block of each gain, in order
        self._gains = np.zeros(0)
        self._planned: float | None = None
        self._raw = 0.0  # K-weighted energy of the decided blocks
        self._actual = 0.0  # the same, at the gains they were given
        self._next_plan = 0
        self._emitted = 0
        self._room = RoomTone(rendering.room_tone_db, sample_rate)
        self._hold = self.limiter.touch_up_context + (self.limiter.lookahead + 4) * BLOCK

    def append(self, audio: np.ndarray) -> None:
        self.programme.append(audio)
        self.source.feed(audio)

    def block_gains(self, start: int, stop: int) -> np.ndarray:
        """The gain (dB) of blocks [start, stop), all decided."""
        blocks = np.arange(start, stop)
        index = np.searchsorted(self._starts, blocks, side="right") - 1
        return np.asarray(self._gains[np.maximum(index, 0)])

    def settle(self, final: bool = False) -> None:
        """Fix the gain of every block analysed since the last call."""
        analysis = self.programme.analysis
        if final:
            self.programme.finish()
        else:
            analysis.catch_up()
        available = analysis.available
        if available <= self.decided:
            return
        planned = self._plan(available)
        fresh = float(np.sum(self.programme.analysis.energies(self.decided, available),
                             dtype=np.float64))  # fmt: skip
        self.gain = self._make_up(planned, fresh)
        self._raw += fresh
        self._actual += fresh * 10.0 ** (self.gain / 10.0)
        if not len(self._gains) or self._gains[-1] != self.gain:
            self._starts = np.append(self._starts, self.decided)
            self._gains = np.append(self._gains, self.gain)
        self.decided = available

    def _make_up(self, planned: float, fresh: float) -> float:
        """The gain for new audio of K-weighted energy *fresh*: *planned*, the one gain
        the whole so far should have had, corrected for what earlier audio got instead
        (by at most :data:`MAKE_UP_DB`), so that the whole's energy is the planned one."""
        if fresh <= 0.0 or self._raw <= 0.0:
            return planned
        owed = self._raw * 10.0 ** (planned / 10.0) - self._actual
        wanted = fresh * 10.0 ** (planned / 10.0) + owed
        made_up = 10.0 * math.log10(wanted / fresh) if wanted > 0 else planned - MAKE_UP_DB
        return min(planned + MAKE_UP_DB, max(planned - MAKE_UP_DB, made_up))

    def _plan(self, available: int) -> float:
        """The gain for the blocks about to be decided."""
        measured = self.source.integrated
        if not math.isfinite(measured):  # nothing above the gate yet: the voice's own level
            if self._planned is not None:
                return self.gain
            return self.target - self.prior if self.prior is not None else 0.0
        seconds = available * BLOCK / self.rate
        if self._planned is None or available >= self._next_plan:
            early = seconds < EARLY_SECONDS
            self._next_plan = available + 1 if early else math.ceil(available * REPLAN_EVERY)
            blocks = self.programme.analysis.view(available)
            planned = plan_gain(blocks, self.rate, self.target, self.ceiling)
            if not math.isfinite(planned):
                logger.debug("no gain planned at %.1f s; from the loudness so far", seconds)
                planned = self.target - measured
            # On a few seconds the planner may reach the target by limiting hard (the
            # loudness it predicts can even fall as the gain rises): a stream asks the
            # limiter for no more than LIMITER_MAKE_UP_DB of loudness.
            self._planned = min(planned, self.target - measured + LIMITER_MAKE_UP_DB)
        if self.prior is None:
            return self._planned
        # The planner trusts the audio so far; while there is little of it, the voice's
        # known loudness pulls the gain towards what it would be for a typical stretch.
        weight = PRIOR_SECONDS / (PRIOR_SECONDS + seconds)
        return self._planned + weight * (measured - self.prior)

    def take(self, final: bool = False) -> np.ndarray:
        """The mastered samples that are ready (all that is left when *final*)."""
        length = self.programme.length
        if final:
            stop = length
        else:
            reach = self.decided * BLOCK - self._hold
            stop = max(self._emitted, min(length, reach) // BLOCK * BLOCK)
        start = self._emitted
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        audio = self._render(start, stop)
        audio += self._room.at(start, len(audio))
        self._emitted = stop
        return audio.astype(np.float32)

    def _render(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) gained and limited (*start* on a block boundary), as
        :func:`~narrator.mastering.render.render_range` does with one gain."""
        limiter = self.limiter
        context = limiter.touch_up_context
        first, last = max(0, start - context), min(self.programme.length, stop + context)
        lo, hi = max(0, first // BLOCK - 1), min(self.decided, -(-last // BLOCK) + 1)
        reduction = limiter.stretch(_Gained(self), 0.0, lo, hi)
        offset = first - lo * BLOCK
        audio = self.programme.read(first, last).astype(np.float64)
        gains = limiter.sample_gains(reduction, len(reduction) * BLOCK)[offset:]
        gained = np.repeat(self.block_gains(lo, hi), BLOCK)[offset:]
        n = len(audio)
        if len(gains) < n or len(gained) < n:  # (the last, partial block)
            gains = np.pad(gains, (0, n - len(gains)), mode="edge")
            gained = np.pad(gained, (0, n - len(gained)), mode="edge")
        audio *= gains[:n] * 10.0 ** (gained[:n] / 20.0)
        return np.asarray(limiter.touch_up(audio)[start - first : stop - first])

    @property
    def source_loudness(self) -> float:
        """Integrated loudness of everything stitched, before the gain (LUFS)."""
        return self.source.integrated if self.source.samples else SILENCE

    def close(self) -> None:
        self.programme.close()
