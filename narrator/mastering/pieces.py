"""Mastering in pieces: the narration is limited, encoded and checked a piece at a time.

Pieces are cut in the pauses between sentences.  A piece is mastered as soon as
its audio is stitched, on a background thread, while the engine is still
speaking later sentences; so by the time the last sentence is synthesized most
of the file is already encoded and measured.  Every mastered piece is kept in the
cache, keyed by everything that went into it, so a narration made again after a
few sentences were edited only encodes the pieces around the edit.

MP3: each piece is encoded on its own, with a little of its neighbours' audio
before and after it, and only the frames that belong to it are kept.  The frames
are written without LAME's bit reservoir, so none of them borrows bytes from the
frame before; the kept frames of consecutive pieces therefore join into one valid
stream, which gets a LAME "Info" frame telling players the encoder delay and
padding, for sample-exact (gapless) decoding.  The pieces lie on the MP3 frame
grid: the stitcher snaps the pauses where pieces may be cut (by at most half a
frame, 13 ms at 22.05 kHz), so that after an edit the sentences that follow it
land on the grid exactly as before.  WAV pieces are plain PCM.  Other formats
are mastered as a whole (:func:`narrator.mastering.whole.master`).

The gain for the whole narration is only known at the end.  A first run plans it
from what has been stitched so far, at checkpoints, and makes the pieces again
whenever the gain in use misses the target by more than :data:`REPLAN_LU`.  For
a lossy format, only the pieces of the first 10 seconds are made until they have
shown the codec's level change, which the plans allow for.  The background
thread runs at the process's own priority (at the lowest one, it starved behind
other programs on a busy machine, and the final file waited for it; see
docs/benchmarks.md); what it has not made when the last sentence is spoken is made
then, on every core.  A run that remakes an earlier narration (one whose first piece is
in the store) starts from the gain that one used, while it still meets the
target.  The decoded pieces are measured, so the loudness and the true peak
reported are those of the file written.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import subprocess
import threading
import wave
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from ..encode import ffmpeg_exe, output_rate
from ..errors import OutputError
from ..loudness import (
    BLOCK,
    BlockPeaks,
    Blocks,
    KWeighting,
    Limiter,
    gain_to_db,
    integrated_loudness,
    step_sums,
)
from ..rendering import AudioFormat, Rendering
from ..stitch import Programme
from ..tags import write_tags
from ..timeline import Chapter
from .mp3 import (
    DECODER_DELAY,
    ENCODER_DELAY,
    MP3_BITRATES,
    MP3_FRAME,
    MP3_RATES,
    crc16,
    mp3_frames,
    mp3_info_frame,
    mp3_info_size,
)
from .plan import (
    LOUDNESS_TOLERANCE,
    MAX_PASSES,
    PEAK_GUARD,
    REPLAN_LU,
    Mastered,
    limiter_ceiling,
    plan_gain,
    predict_loudness,
    replan_gain,
)
from .render import CHUNK, ROOM_TONE_SEED, RoomTone, render_range
from .store import Measured, PieceStore

__all__ = [  # (the MP3 frame names too, for those who import them from here)
    "ENCODER_DELAY", "MP3_FRAME", "Measured", "Mp3Pieces", "PieceFormat", "PieceMaster",
    "PieceStore", "WavPieces", "crc16", "cut_in_gap", "mp3_frames", "mp3_info_frame",
    "piece_format",
]  # fmt: skip

logger = logging.getLogger("narrator.pieces")  # (the name it has always logged under)

PIECES_VERSION = 1
"""Bumped whenever what a stored piece means changes."""

CUT_HOLD = 0.20
"""Seconds between a cut and the next sentence's first sample: more than the post-roll
and the limiter's context, so that a piece never reads the next sentence."""

CUT_MIN_GAP = 0.38
"""The shortest silence between two sentences that may hold a cut (seconds)."""

MAX_SNAP = 0.03
"""Grids finer than this (seconds) are snapped to; coarser ones are only used where
they happen to fall inside a pause."""

PIECE_EVERY = 5
"""About one cut in this many becomes a piece boundary: the one after a sentence whose
text hashes to a multiple of it.  The choice depends only on the text, so an edit
moves no boundary but its own."""

MIN_PIECE = 5.0
MAX_PIECE = 20.0
"""Seconds a piece lasts at least, and at most (where cuts allow)."""

LONGEST_PIECE = 2 * MAX_PIECE
"""Seconds of audio a piece may gather without a pause long enough to cut in (pauses
shorter than CUT_MIN_GAP, or one long sentence): then it ends at the last such pause
after MIN_PIECE, or else at the quietest point between MIN_PIECE and MAX_PIECE.  So
no piece, and no piece's memory, grows with the narration, whatever the pauses."""

QUIET_SPAN = 0.05
"""Seconds each side of a point that its quietness is judged on (the loudest block in
them)."""

FIRST_PLAN = 20.0
PLAN_GROWTH = 1.5
"""A first run mastering while it synthesizes plans the gain when the narration reaches
FIRST_PLAN seconds, then each time it has grown by PLAN_GROWTH.  Every plan sees the
same audio and the same learning pieces whatever the timing, so the gain (and the
file) is the same on every run."""

MAX_WORKERS = 4

LEARN_SECONDS = 10.0
"""The codec's level change is learnt on the pieces that start in the first this many
seconds."""


# -- piece formats -------------------------------------------------------------------


class PieceFormat:
    """How pieces of one output format are encoded, measured and joined."""

    name: str
    rate: int
    """The output's sample rate."""

    source_rate: int
    """The programme's sample rate."""

    grid: int
    """Piece boundaries lie on multiples of this many programme samples."""

    pre: int = 0
    post: int = 0
    """Programme samples encoded before and after a piece, and then dropped."""

    def encode(
        self, audio: np.ndarray, offset: int, length: int, last: bool
    ) -> tuple[bytes, bytes]:  # fmt: skip
        """(the piece's own encoded audio, all that was encoded): *audio* holds the
        pre-roll (*offset* samples), the piece (*length* samples, or the rest when
        *last*) and the post-roll."""
        raise NotImplementedError

    def measure(
        self, encoded: bytes, begin: int, start: int, stop: int, last: bool
    ) -> Measured:  # fmt: skip
        """Measure the piece [start, stop) as a player decodes it, from everything
        encoded from programme sample *begin* on (*last*: the piece ends the file)."""
        raise NotImplementedError

    def write(self, destination: Path, payloads: Iterable[bytes], samples: int) -> None:
        """Join the pieces' own encoded audio (*payloads*, in order, read one at a
        time) into the file at *destination*, of *samples* programme samples."""
        raise NotImplementedError

    def identity(self) -> dict[str, object]:
        return {"format": self.name, "rate": self.rate, "grid": self.grid,
                "pre": self.pre, "post": self.post}  # fmt: skip

    def cut(self, speech_end: int, gap: int) -> tuple[int, int] | None:
        """Where to cut in a pause of *gap* programme samples after speech ending at
        *speech_end* (see :func:`cut_in_gap`): the stitcher's cutter."""
        return cut_in_gap(speech_end, gap, self.grid, self.source_rate)


class WavPieces(PieceFormat):
    """16-bit PCM, at the narration's own rate."""

    name = "wav"

    def __init__(self, sample_rate: int) -> None:
        self.rate = self.source_rate = sample_rate
        self.grid = BLOCK

    def encode(
        self, audio: np.ndarray, offset: int, length: int, last: bool
    ) -> tuple[bytes, bytes]:  # fmt: skip
        body = audio[offset:] if last else audio[offset : offset + length]
        pcm = np.round(np.clip(body, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        return pcm, pcm

    def measure(
        self, encoded: bytes, begin: int, start: int, stop: int, last: bool
    ) -> Measured:  # fmt: skip
        decoded = np.frombuffer(encoded, dtype="<i2") / 32768.0
        return _measure(decoded, start, start, stop, self.rate)

    def write(self, destination: Path, payloads: Iterable[bytes], samples: int) -> None:
        with wave.open(str(destination), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.rate)
            for data in payloads:
                out.writeframesraw(data)


class Mp3Pieces(PieceFormat):
    """MPEG-1 layer III, constant bitrate, without the bit reservoir."""

    name = "mp3"

    def __init__(self, sample_rate: int, bitrate: int) -> None:
        self.source_rate = sample_rate
        self.rate = output_rate(AudioFormat.MP3, sample_rate)
        self.bitrate = bitrate
        # The shortest run of programme samples that is a whole number of frames.
        frame = MP3_FRAME * sample_rate // math.gcd(MP3_FRAME * sample_rate, self.rate)
        self.grid = frame * BLOCK // math.gcd(frame, BLOCK)
        self.pre = -(-2 * MP3_FRAME * sample_rate // self.rate // self.grid) * self.grid
        self.post = 3 * MP3_FRAME * sample_rate // self.rate + BLOCK

    def identity(self) -> dict[str, object]:
        return {**super().identity(), "bitrate": self.bitrate, "ffmpeg": _ffmpeg_identity()}

    @staticmethod
    def supports(sample_rate: int, bitrate: int) -> bool:
        return output_rate(AudioFormat.MP3, sample_rate) in MP3_RATES and bitrate in MP3_BITRATES

    def _frames(self, samples: int) -> int:
        """Output frames in *samples* programme samples (a multiple of the grid)."""
        return samples * self.rate // self.source_rate // MP3_FRAME

    def encode(
        self, audio: np.ndarray, offset: int, length: int, last: bool
    ) -> tuple[bytes, bytes]:  # fmt: skip
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "f32le",
            "-ar", str(self.source_rate), "-ac", "1", "-i", "pipe:0", "-map_metadata", "-1",
            "-c:a", "libmp3lame", "-b:a", f"{self.bitrate}k", "-reservoir", "0",
        ]  # fmt: skip
        if self.rate != self.source_rate:
            command += ["-af", "aresample=resampler=soxr", "-ar", str(self.rate)]
        command += ["-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", "pipe:1"]
        encoded = _run(command, np.asarray(audio, dtype="<f4").tobytes(), "the MP3 encoder")
        frames = mp3_frames(encoded)
        first = self._frames(offset)
        kept = frames[first:] if last else frames[first : first + self._frames(length)]
        return b"".join(kept), encoded

    def measure(
        self, encoded: bytes, begin: int, start: int, stop: int, last: bool
    ) -> Measured:  # fmt: skip
        # All the frames are decoded: the pre-roll's complete the overlap of the first
        # kept frame and warm up the meter's filter.  Decoded sample m of audio encoded
        # from output sample s is sample s + m - (encoder + decoder delay) of the file,
        # and a piece owns what its own frames decode to.
        decoded = _decode_mp3(encoded)
        delay = ENCODER_DELAY + DECODER_DELAY
        out = self.rate // math.gcd(self.rate, self.source_rate)
        inp = self.source_rate // math.gcd(self.rate, self.source_rate)
        first = max(0, start * out // inp - delay) if start else 0
        end = stop * out // inp - (0 if last else delay)
        return _measure(decoded, begin * out // inp - delay, first, end, self.rate)

    def write(self, destination: Path, payloads: Iterable[bytes], samples: int) -> None:
        frames = audio_bytes = 0
        with open(destination, "wb") as out:
            out.write(bytes(mp3_info_size(self.rate, self.bitrate)))  # filled in at the end
            for data in payloads:
                frames += len(mp3_frames(data))
                audio_bytes += len(data)
                out.write(data)
            out.seek(0)
            out_samples = samples * self.rate // self.source_rate
            out.write(mp3_info_frame(self.rate, self.bitrate, frames, audio_bytes, out_samples))


MEASURE_CHUNK = 1 << 16
"""Samples measured at a time (the meter's temporaries grow with it)."""


def _measure(decoded: np.ndarray, origin: int, first: int, stop: int, rate: int) -> Measured:
    """Measure output samples [first, stop) of the file from *decoded*, whose sample 0
    is output sample *origin* (the samples before them warm up the meter's filter)."""
    lo, hi = max(0, first - origin), max(0, min(len(decoded), stop - origin))
    step = round(0.1 * rate)
    index = (origin + lo) // step
    sums = np.zeros(max(0, (origin + hi - 1) // step - index + 1))
    weighting, peaks = KWeighting(rate), BlockPeaks(4096)
    for at in range(0, hi, MEASURE_CHUNK):
        chunk = decoded[at : min(hi, at + MEASURE_CHUNK)].astype(np.float64)
        weighted = weighting(chunk)[max(0, lo - at) :]
        if not len(weighted):
            continue
        peaks.feed(chunk[max(0, lo - at) :])
        start, part = step_sums(weighted * weighted, origin + max(lo, at), step)
        sums[start - index : start - index + len(part)] += part
    peaks.feed(np.zeros(0), final=True)
    return Measured(index, sums, peaks.loudest)


def _decode_mp3(encoded: bytes) -> np.ndarray:
    """The samples of a bare MP3 stream (no Info frame): by libsndfile's mpg123 in this
    process where it can, else by ffmpeg.  Both decode to the same samples, aligned."""
    try:
        decoded, _rate = sf.read(io.BytesIO(encoded), dtype="float32")
    except (sf.SoundFileError, RuntimeError, TypeError):  # a libsndfile without MP3
        command = [ffmpeg_exe(), "-v", "error", "-f", "mp3", "-i", "pipe:0", "-f", "f32le", "-"]
        return np.frombuffer(_run(command, encoded, "the MP3 decoder"), dtype="<f4")
    return np.asarray(decoded)


def _run(command: list[str], data: bytes, what: str) -> bytes:
    try:
        done = subprocess.run(command, input=data, capture_output=True, check=False)
    except OSError as exc:
        raise OutputError(f"{what} could not be started: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OutputError(f"{what} failed: {message[0] if message else 'no message'}")
    return done.stdout


def _ffmpeg_identity() -> str:
    path = ffmpeg_exe()
    try:
        return f"{Path(path).name}:{os.stat(path).st_size}"
    except OSError:
        return path


def piece_format(rendering: Rendering, sample_rate: int) -> PieceFormat | None:
    """How to master *rendering*'s format in pieces, or None to master it whole."""
    if rendering.format is AudioFormat.WAV:
        return WavPieces(sample_rate)
    if rendering.format is AudioFormat.MP3 and Mp3Pieces.supports(sample_rate, rendering.bitrate):
        return Mp3Pieces(sample_rate, rendering.bitrate)
    return None


def cut_in_gap(speech_end: int, gap: int, grid: int, sample_rate: int) -> tuple[int, int] | None:
    """Where to cut in a pause of *gap* samples after speech ending at *speech_end*:
    (cut, new gap), or None when the pause holds no cut.

    A fine grid is snapped to by moving the end of the pause; a coarse one is only
    used where a grid line falls inside the pause."""
    hold, least = round(CUT_HOLD * sample_rate), round((CUT_MIN_GAP - CUT_HOLD) * sample_rate) // 2
    if gap < CUT_MIN_GAP * sample_rate:
        return None
    wanted = speech_end + gap - hold
    if grid <= MAX_SNAP * sample_rate:
        cut = round(wanted / grid) * grid
        return (cut, cut + hold - speech_end) if cut - speech_end >= least else None
    cut = wanted // grid * grid
    return (cut, gap) if cut - speech_end >= least else None


# -- the mastering itself ----------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    index: int
    start: int
    stop: int
    last: bool
    gain: float
    ceiling: float
    learn: bool
    """Whether to measure what goes into the encoder too, to learn the codec's effect."""


class _Made(NamedTuple):
    key: str
    """Where the piece is in the store."""
    measured: Measured
    found: bool
    """Whether it was in the store already."""


class PieceMaster:
    """Masters a programme in pieces while it is being stitched.

    Call :meth:`cut` for every cut the stitcher made, :meth:`advance` after each
    append, and :meth:`finish` once the programme is complete.
    """

    def __init__(
        self,
        programme: Programme,
        rendering: Rendering,
        form: PieceFormat,
        store: PieceStore,
    ) -> None:
        self.programme = programme
        self.rendering = rendering
        self.form = form
        self.store = store
        self.rate = programme.sample_rate
        self.base_ceiling = self.ceiling = limiter_ceiling(rendering)
        self.gain: float | None = None
        self.from_record = False
        """Whether the gain is one an earlier narration starting the same way used."""
        self._looked_up = False
        self.boundaries = [0]
        self._cuts: list[int] = []
        self._ceilings: dict[int, float] = {}
        self._next_plan = round(FIRST_PLAN * self.rate)
        self._jobs: dict[int, tuple[_Job, Future[_Made]]] = {}
        self._background = ThreadPoolExecutor(1, "narrator-background")
        # The pieces the codec's level change is learnt on are waited for at the next
        # checkpoint, so they are made at normal priority, as soon as they can be.
        self._learner = ThreadPoolExecutor(1, "narrator-learn")
        self._limiters: dict[float, Limiter] = {}
        self._lock = threading.Lock()
        self.passes = 1
        self._shift = 0.0
        self._shift_known = not rendering.format.lossy
        identity = json.dumps({
            "v": PIECES_VERSION, "form": form.identity(), "room_tone": rendering.room_tone_db,
            "seed": ROOM_TONE_SEED, "rate": self.rate,
        }, sort_keys=True)  # fmt: skip
        self._identity = identity.encode()
        self._tone = RoomTone(rendering.room_tone_db, self.rate)

    # -- while stitching

    def cut(self, position: int, text: str) -> None:
        """The stitcher cut at *position*, in the pause after a segment saying *text*."""
        length = position - self.boundaries[-1]
        chosen = zlib.crc32(text.encode("utf-8")) % PIECE_EVERY == 0
        if (chosen and length >= MIN_PIECE * self.rate) or length >= MAX_PIECE * self.rate:
            self.boundaries.append(position)
            self._cuts.clear()
        else:
            self._cuts.append(position)

    def advance(self) -> None:
        """Start whatever the audio stitched so far allows: a gain plan, or pieces."""
        self._cut_long_pieces()
        if not self._looked_up and len(self.boundaries) > 1 and self._ready(0):
            self._recall(self.boundaries[1], False)
        self._plan_if_due()
        if self.gain is None:
            return
        for index in range(len(self.boundaries) - 1):
            if index in self._jobs:
                continue
            if not self._ready(index) or not (self._shift_known or self._learns(index)):
                break  # (until the codec's level change is known, a plan is a guess)
            self._submit(self._executor(index), index)

    def _cut_long_pieces(self) -> None:
        """End the open piece where no pause has let it end within LONGEST_PIECE (at the
        last pause that could hold a cut, or else at the quietest point), as often as
        needed.  Where depends only on the audio, never on when this runs."""
        analysed = min(self.programme.length, self.programme.analysis.available * BLOCK)
        longest = round(LONGEST_PIECE * self.rate)
        while analysed - self.boundaries[-1] >= longest:
            start = self.boundaries[-1]
            lo, hi = start + round(MIN_PIECE * self.rate), start + round(MAX_PIECE * self.rate)
            pauses = [cut for cut in self._cuts if lo <= cut <= hi]
            cut = pauses[-1] if pauses else self._quietest(start, lo, hi)
            where = "in a pause" if pauses else "at its quietest point"
            logger.debug("piece %d ends at %.2f s, %s", len(self.boundaries) - 1,
                         cut / self.rate, where)  # fmt: skip
            self.boundaries.append(cut)
            self._cuts = [later for later in self._cuts if later > cut]

    def _quietest(self, start: int, lo: int, hi: int) -> int:
        """The latest of the quietest grid points in [lo, hi] (after *start*), judged by
        the loudest block within QUIET_SPAN of each."""
        grid = self.form.grid
        points = np.arange(max(-(-lo // grid), start // grid + 1), hi // grid + 1) * grid
        if not len(points):
            return (start // grid + 1) * grid
        span = max(1, round(QUIET_SPAN * self.rate) // BLOCK)
        first = int(points[0]) // BLOCK - span
        peaks = self.programme.analysis.peaks_db(max(0, first), int(points[-1]) // BLOCK + span)
        peaks = np.concatenate([np.full(max(0, -first), -np.inf), peaks])
        peaks = np.concatenate([peaks, np.full(2 * span, -np.inf)])  # (past the end)
        loudest = np.lib.stride_tricks.sliding_window_view(peaks, 2 * span)
        score = loudest.max(axis=1)[points // BLOCK - span - first]
        return int(points[len(points) - 1 - int(np.argmin(score[::-1]))])

    def _ready(self, index: int) -> bool:
        """Whether the audio piece *index* needs is stitched and analysed."""
        needed = self._stop(index) + self._right_context()
        return needed <= min(self.programme.length, self.programme.analysis.available * BLOCK)

    def _recall(self, stop: int, last: bool) -> None:
        """Start from the gain of an earlier narration that began with the same piece
        (an earlier run of an edited text), so that its pieces can be used again."""
        self._looked_up = True
        earlier = self.store.gains(self._content_key(0, stop, last))
        if earlier:
            self.gain, self.ceiling = earlier[0]
            self.from_record = self._shift_known = True  # (the gain allows for it)
            logger.debug("starting from the gain of an earlier narration, %+.2f dB", self.gain)

    def _right_context(self) -> int:
        limiter = self._limiter(self.ceiling)
        return self.form.post + limiter.touch_up_context + (2 * limiter.lookahead + 4) * BLOCK

    def _plan_if_due(self) -> None:
        """Plan the gain at each checkpoint that the analysis has reached."""
        if self.from_record:
            return
        checkpoint = self._next_plan
        if self.programme.analysis.available * BLOCK < checkpoint:
            return
        self._next_plan = round(checkpoint * PLAN_GROWTH)
        if self.gain is not None and not self._shift_known:
            # What the learning pieces whose audio (and context) lies before the
            # checkpoint say, at this gain.  Learnt once (the change hardly depends
            # on the gain; the final one is learnt again at the end), so that later
            # plans never wait for the background thread.
            learning = [i for i in self._learning()
                        if self._stop(i) + self._right_context() <= checkpoint]  # fmt: skip
            for index in learning:
                if index not in self._jobs:
                    self._submit(self._executor(index), index)
            self._learn_shift(learning)
            self._shift_known = bool(learning)
        blocks = self.programme.analysis.view(checkpoint // BLOCK)
        aim = self.rendering.loudness - self._shift
        gain = replan_gain(blocks, self.rate, aim, self.ceiling, self.gain)
        if gain != self.gain:
            logger.debug("planned gain %+.2f dB at %.0f s", gain, checkpoint / self.rate)
            self._set_gain(gain)

    def _executor(self, index: int) -> ThreadPoolExecutor:
        """Where piece *index* is made while synthesizing."""
        return self._learner if self._learns(index) and not self._shift_known else self._background

    def _learns(self, index: int) -> bool:
        """Whether the codec's level change is learnt on piece *index*."""
        lossy = self.rendering.format.lossy
        return lossy and self.boundaries[index] < LEARN_SECONDS * self.rate

    def _learning(self) -> list[int]:
        """The pieces the codec's level change is learnt on."""
        return [index for index in range(len(self.boundaries)) if self._learns(index)]

    def _set_gain(self, gain: float) -> None:
        self.gain = gain
        for _job, future in self._jobs.values():
            future.cancel()
        self._jobs.clear()

    # -- the end

    def finish(self, destination: Path, chapters: Sequence[Chapter] = ()) -> Mastered:
        """Master what is left, check the whole, and write it to *destination*."""
        programme = self.programme
        programme.finish()
        self._cut_long_pieces()
        # Nothing after the last piece can change now: the rest is cut wherever it may
        # be (into pieces of a second or more), to spread it over the cores.
        for cut in self._cuts:
            if cut - self.boundaries[-1] >= self.rate:
                self.boundaries.append(cut)
        if not self._looked_up:
            stop = self.boundaries[1] if len(self.boundaries) > 1 else programme.length
            self._recall(stop, len(self.boundaries) == 1)
        # Pieces still waiting for the background thread are made on every core now.
        for index, (_job, future) in list(self._jobs.items()):
            if future.cancel():
                del self._jobs[index]
        blocks = programme.analysis
        aim = self.rendering.loudness
        workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="narrator-master") as pool:
            if self.rendering.format.lossy:
                self._calibrate(pool, blocks, aim)
            self._final_gain(blocks, aim - self._shift)
            for attempt in range(1, MAX_PASSES + 1):
                self.passes = attempt
                results = self._all(pool)
                loudness, peak = self._measure_whole([made.measured for made in results])
                logger.debug("pass %d: gain %+.2f dB -> %.2f LUFS, %.2f dBTP",
                             attempt, self.gain, loudness, peak)  # fmt: skip
                if math.isinf(loudness) or attempt == MAX_PASSES:
                    break
                over = self._over_the_ceiling([made.measured for made in results])
                if abs(loudness - aim) <= LOUDNESS_TOLERANCE and not over:
                    break
                for index, excess in over.items():
                    ceiling = self._ceilings.get(index, self.ceiling) - excess - 0.1
                    self._ceilings[index] = ceiling
                    self._jobs.pop(index, None)
                if abs(loudness - aim) > LOUDNESS_TOLERANCE:
                    assert self.gain is not None
                    shift = loudness - predict_loudness(blocks, self.rate, self.gain,
                                                self._limiter(self.ceiling))  # fmt: skip
                    aim_now = self.rendering.loudness - shift
                    self._set_gain(plan_gain(blocks, self.rate, aim_now, self.ceiling))
        self._background.shutdown(wait=True)
        self._learner.shutdown(wait=True)
        # Only the gain of the file written is remembered, once no piece made at an
        # earlier gain can still finish (the narration's ceiling, not a piece's own).
        assert self.gain is not None
        first = self._content_key(0, self._stop(0), len(self.boundaries) == 1)
        self.store.note(first, self.gain, self.ceiling)
        if abs(loudness - aim) > LOUDNESS_TOLERANCE or peak > self._peak_limit:
            logger.warning("loudness %.1f LUFS, true peak %.1f dBTP after %d passes",
                           loudness, peak, self.passes)  # fmt: skip
        self.form.write(destination, self._payloads(results), programme.length)
        write_tags(
            destination, self.rendering.format, self.rendering.tags, chapters, self.rendering.cover
        )
        assert self.gain is not None
        return Mastered(loudness, peak, self.gain, self.passes, self.ceiling, len(results),
                        sum(made.found for made in results))  # fmt: skip

    @property
    def _peak_limit(self) -> float:
        return self.rendering.true_peak - PEAK_GUARD

    def _calibrate(self, pool: ThreadPoolExecutor, blocks: Blocks, aim: float) -> None:
        """Learn the codec's level change on the learning pieces before making the
        others (at the gain in use, or at a first plan that does not know it yet)."""
        if self.gain is None:
            self._final_gain(blocks, aim)
        learning = self._learning()
        for index in learning:
            if index not in self._jobs:
                self._submit(pool, index)
        self._learn_shift(learning)

    def _final_gain(self, blocks: Blocks, aim: float) -> None:
        # An earlier narration's gain is kept as long as the file it makes is expected
        # to pass the final check (the codec's level change is only estimated here).
        tolerance = LOUDNESS_TOLERANCE if self.from_record else REPLAN_LU
        gain = replan_gain(blocks, self.rate, aim, self.ceiling, self.gain, tolerance)
        if gain != self.gain:
            if self.from_record:
                self.from_record = False
                self.ceiling = self.base_ceiling
                gain = replan_gain(blocks, self.rate, aim, self.ceiling, None)
            self._set_gain(gain)

    def _all(self, pool: ThreadPoolExecutor) -> list[_Made]:
        for index in range(len(self.boundaries)):
            if index not in self._jobs:
                self._submit(pool, index)
        return [self._jobs[index][1].result() for index in range(len(self.boundaries))]

    def _stop(self, index: int) -> int:
        """Where piece *index* ends: the next boundary, or (the last) the programme's end."""
        last = index == len(self.boundaries) - 1
        return self.programme.length if last else self.boundaries[index + 1]

    def _submit(self, pool: ThreadPoolExecutor, index: int) -> None:
        assert self.gain is not None
        last = self.programme.finished and index == len(self.boundaries) - 1
        ceiling = self._ceilings.get(index, self.ceiling)
        learn = self._learns(index)
        job = _Job(index, self.boundaries[index], self._stop(index), last, self.gain, ceiling,
                   learn)  # fmt: skip
        self._jobs[index] = (job, pool.submit(self._make, job))

    def _limiter(self, ceiling: float) -> Limiter:
        with self._lock:
            if ceiling not in self._limiters:
                self._limiters[ceiling] = Limiter(self.rate, ceiling)
            return self._limiters[ceiling]

    def _content_key(self, start: int, stop: int, last: bool) -> str:
        """What the piece [start, stop) is made from, before the gain: the programme's
        samples it reads and where it lies among them."""
        programme, form = self.programme, self.form
        begin = max(0, start - form.pre)
        end = programme.length if last else min(programme.length, stop + form.post)
        context = self._limiter(self.base_ceiling).touch_up_context
        digest = hashlib.sha256(self._identity)
        digest.update(json.dumps([start - begin, stop - start, end - stop, last, begin == 0,
                                  begin - max(0, begin - context)]).encode())  # fmt: skip
        digest.update(programme.read(begin - context, end + context).tobytes())
        return digest.hexdigest()

    def _make(self, job: _Job) -> _Made:
        """Master one piece, or find it in the store: (its key, its measurement)."""
        reduction = self._reduction(job)
        content = self._content_key(job.start, job.stop, job.last)
        digest = hashlib.sha256(content.encode())
        digest.update(json.dumps([job.gain, job.ceiling]).encode())
        digest.update(reduction.values.tobytes())
        key = digest.hexdigest()
        found = self.store.get(key)
        if found is not None:
            logger.debug("piece %d found in the store", job.index)
            return _Made(key, found, True)
        payload, measured = self._encode(job, reduction)
        self.store.put(key, payload, measured)
        logger.debug("piece %d made: %.1f s at %+.2f dB", job.index,
                     (job.stop - job.start) / self.rate, job.gain)  # fmt: skip
        return _Made(key, measured, False)

    def _reduction(self, job: _Job) -> _LocalReduction:
        """The limiter's reduction over what piece *job* renders."""
        begin = max(0, job.start - self.form.pre)
        end = self.programme.length if job.last else min(self.programme.length,
                                                         job.stop + self.form.post)  # fmt: skip
        return _LocalReduction(self.programme, self._limiter(job.ceiling), job.gain, begin, end)

    def _encode(self, job: _Job, reduction: _LocalReduction) -> tuple[bytes, Measured]:
        """(the piece's own encoded audio, its measurement)."""
        programme, form = self.programme, self.form
        begin = max(0, job.start - form.pre)
        end = programme.length if job.last else min(programme.length, job.stop + form.post)
        limiter = self._limiter(job.ceiling)
        # The room tone's loop restarts a pre-roll before each boundary, so a piece's
        # audio never depends on how long the pieces before it are; the jump, far
        # down in a pause, cannot be heard.
        anchors = [max(0, job.start - form.pre)] + ([] if job.last else [job.stop - form.pre])
        parts = []
        for at in range(begin, end, CHUNK):  # a few seconds at a time: less memory
            upto = min(end, at + CHUNK)
            part = render_range(programme, at, upto, job.gain, limiter, reduction)
            part += _room_tone(self._tone, at, upto, anchors)
            parts.append(part.astype(np.float32))
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        payload, encoded = form.encode(audio, job.start - begin, job.stop - job.start, job.last)
        measured = form.measure(encoded, begin, job.start, job.stop, job.last)
        if job.learn:
            before = _measure(audio, begin, job.start, job.stop, self.rate)
            measured = replace(measured, source=(before.first_step, before.sums))
        return payload, measured

    def _payloads(self, results: Sequence[_Made]) -> Iterator[bytes]:
        """The pieces' encoded audio, in order, one at a time: from the store, or made
        again where it has gone from there (the cache cleared meanwhile)."""
        for index, made in enumerate(results):
            payload = self.store.payload(made.key)
            if payload is None:
                logger.warning("mastered piece %d is gone from %s; it is made again",
                               index, self.store.directory)  # fmt: skip
                job = self._jobs[index][0]
                payload, _measured = self._encode(job, self._reduction(job))
            yield payload

    def _measure_whole(self, parts: Sequence[Measured]) -> tuple[float, float]:
        """(loudness, true peak) of the file the pieces make."""
        samples = self.programme.length * self.form.rate // self.rate
        loudness = _loudness([(p.first_step, p.sums) for p in parts], self.form.rate, samples)
        peak = max((part.peak for part in parts), default=0.0)
        return loudness, gain_to_db(peak)

    def _learn_shift(self, learning: Sequence[int]) -> None:
        """Learn the codec's level change from the pieces *learning* (waiting for them):
        their loudness as decoded against what went into the encoder."""
        parts = [self._jobs[index][1].result().measured for index in learning]
        after = _loudness([(p.first_step, p.sums) for p in parts], self.form.rate)
        before = _loudness([p.source for p in parts], self.rate)
        if not math.isinf(after) and not math.isinf(before):
            self._shift = after - before
            logger.debug("the codec moves the level by %+.2f LU (%d pieces)",
                         self._shift, len(parts))  # fmt: skip

    def _over_the_ceiling(self, parts: Sequence[Measured]) -> dict[int, float]:
        """dB by which each piece whose true peak is over the limit exceeds it."""
        limit = self._peak_limit
        return {index: gain_to_db(part.peak) - limit for index, part in enumerate(parts)
                if gain_to_db(part.peak) > limit}  # fmt: skip

    def close(self) -> None:
        """Stop the background work (after an error or an interruption)."""
        for _job, future in self._jobs.values():
            future.cancel()
        self._background.shutdown(wait=True, cancel_futures=True)
        self._learner.shutdown(wait=True, cancel_futures=True)


def _loudness(parts: Sequence[tuple[int, np.ndarray]], rate: int, samples: int = 0) -> float:
    """Integrated loudness from the step sums of pieces of a file of *samples* samples
    (0: up to the last step they reach)."""
    step = round(0.1 * rate)
    count = samples // step if samples else max((f + len(v) for f, v in parts), default=0)
    steps = np.zeros(count)
    for first, sums in parts:
        lo, hi = max(0, first), min(count, first + len(sums))
        if hi > lo:
            steps[lo:hi] += sums[lo - first : hi - first]
    return integrated_loudness(steps / step)


class _LocalReduction:
    """The limiter's reduction over programme samples [begin, end) and the context
    that rendering them reads, computed from the blocks around them alone."""

    def __init__(
        self, programme: Programme, limiter: Limiter, gain: float, begin: int, end: int
    ) -> None:  # fmt: skip
        context = limiter.touch_up_context // BLOCK + 2  # what render_range reads around
        self.lo = max(0, begin // BLOCK - context)
        self.hi = -(-end // BLOCK) + context
        self.values = limiter.stretch(programme.analysis, gain, self.lo, self.hi)

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        if lo < self.lo or hi > self.hi:
            raise ValueError("a piece asked for the limiter outside its own context")
        return self.values[lo - self.lo : hi - self.lo]


def _room_tone(tone: RoomTone, begin: int, end: int, anchors: Sequence[int]) -> np.ndarray:
    """Room tone for programme samples [begin, end): the loop restarts at each of
    *anchors* (the first of which is at or before *begin*)."""
    points = [begin, *(a for a in anchors[1:] if begin < a < end), end]
    parts = [tone.at(lo - max(a for a in anchors if a <= lo), hi - lo)
             for lo, hi in zip(points, points[1:], strict=False)]  # fmt: skip
    return np.concatenate(parts) if parts else np.zeros(0)
