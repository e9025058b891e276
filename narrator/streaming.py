"""Streaming narration: mastered audio a sentence at a time, as soon as it is spoken.

:func:`stream` yields mastered mono float32 blocks; :func:`stream_bytes` encodes them
(raw PCM, WAV with a streaming header, MP3, Ogg Opus, ADTS AAC or FLAC) for a pipe
or an HTTP response.  Both synthesize lazily: nothing is spoken before it is asked
for, and closing the stream (or setting *cancel*) stops synthesis before the next
sentence.

The loudness is planned without seeing the whole text (see
:mod:`narrator.mastering.live`), from the voice's measured loudness, which is kept
per voice in the cache (``voices/loudness-*.json``: measured once on a calibration
text, then refined by every stream) and from the audio as it comes.  A stream lands
within 1 LU of the target and never above the true-peak ceiling; a file made by
:func:`~narrator.pipeline.narrate` is measured after mastering and lands within 0.3 LU.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import struct
import subprocess
import threading
import weakref
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .cache import ClipCache, write_atomically
from .encode import OPUS_RATE, ffmpeg_exe
from .engines import Engine, engine_class, load_engine_in_background
from .errors import OptionError, OutputError
from .language import AUTO_VOICE, auto_voice
from .loudness import LoudnessMeter
from .mastering.live import LiveMaster
from .rendering import AudioFormat, Rendering
from .stitch import Stitcher
from .synthesis import Synthesizer
from .text import Lexicon, split_text
from .text.chunks import fit
from .voices import Voice, load_voice

logger = logging.getLogger(__name__)

STREAM_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
"""What :func:`stream_bytes` encodes: MP3, Ogg Opus, ADTS AAC, FLAC, WAV (a streaming
header: the length is unknown) and raw PCM (16-bit little-endian, mono)."""

CALIBRATION_TEXT = (
    "The old lighthouse keeper climbed the stairs each evening, counting every step. "
    "Nobody in the village knew why he did it. But the light never failed."
)
"""What a voice speaks, once, to measure its loudness (when the cache does not know it)."""

PRIOR_WEIGHT_CAP = 600.0
"""Seconds of earlier streams that the kept loudness of a voice counts for at most, when a
new stream refines it (so that a voice's measurement keeps learning)."""

MIN_REFINE_SECONDS = 5.0
"""A stream shorter than this (seconds) does not refine the voice's kept loudness."""

READ_SIZE = 1 << 16
"""Bytes read from the encoder at a time."""

_ENCODERS: dict[str, tuple[list[str], str]] = {
    "mp3": (["-c:a", "libmp3lame"], "mp3"),
    "opus": (["-c:a", "libopus", "-application", "voip", "-page_duration", "100000"], "ogg"),
    "aac": (["-c:a", "aac"], "adts"),
    "flac": (["-c:a", "flac"], "flac"),
}


# -- engines shared between streams ---------------------------------------------------

_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def _engine_lock(engine: Engine) -> threading.Lock:
    with _locks_lock:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = threading.Lock()
        return lock


class _Serialized(Engine):
    """An engine shared by several streams, one call at a time (an engine that is not
    :attr:`~narrator.engines.Engine.concurrent` may not be called from two threads)."""

    name = "serialized"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sample_rate = engine.sample_rate
        self.max_chars = engine.max_chars
        self.batch_size = engine.batch_size
        self._lock = _engine_lock(engine)

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> Engine:
        raise NotImplementedError

    def synthesize(self, text: str) -> np.ndarray:
        with self._lock:
            return self.engine.synthesize(text)

    def synthesize_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        with self._lock:
            return self.engine.synthesize_batch(texts)

    def describe(self) -> dict[str, Any]:
        return self.engine.describe()


def _shared(engine: Engine) -> Engine:
    """*engine*, safe to call from this stream while other streams call it too."""
    if engine.concurrent:
        return engine
    wrapper = _Serialized(engine)
    wrapper.name = engine.name  # type: ignore[misc]  # (messages name the real engine)
    return wrapper


# -- the stream of mastered blocks ----------------------------------------------------


class AudioStream:
    """Mastered mono float32 blocks at :attr:`sample_rate`, one or more per sentence.

    Iterate it (once); :meth:`close` (or leaving a ``with`` block) stops synthesis before
    the next sentence and releases the engine if the stream loaded it.
    """

    def __init__(
        self, text: str, voice: Voice, rendering: Rendering, device: str,
        engine: Engine | Future[Engine] | None, cache: ClipCache | None,
        lexicon: str | Path | Lexicon | None, cancel: threading.Event | None,
    ) -> None:  # fmt: skip
        self.voice = voice
        self.rendering = rendering
        self._cancel = cancel
        self._stop = threading.Event()
        self._cache = cache
        self.loudness: float | None = None
        """The loudness of the blocks handed on (LUFS), once the stream has ended."""
        self.samples = 0
        """Samples handed on so far."""
        if isinstance(engine, Engine):
            limit = engine.max_chars
            loading: Engine | Future[Engine] = _shared(engine)
        else:  # the model loads while the text is split
            if engine is None:
                engine = load_engine_in_background(voice, device=device)
            loading = engine
            limit = engine_class(voice.engine).text_limit(voice)
        try:
            lexicons = [lexicon, voice.lexicon_path()]
            self._segments = split_text(text, language=voice.language, rendering=rendering,
                                        lexicon=lexicons, limit=limit)  # fmt: skip
            self._synthesizer = Synthesizer(voice, device=device, engine=loading, cache=cache)
        except BaseException:
            if isinstance(loading, Future):
                loading.add_done_callback(_close_loaded)
            raise
        self.sample_rate = self._synthesizer.sample_rate
        self._blocks = self._generate()

    def __iter__(self) -> AudioStream:
        return self

    def __next__(self) -> np.ndarray:
        return next(self._blocks)

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop: no further sentence is synthesized.  From another thread than the one
        iterating, the stream stops at its next sentence and cleans up there."""
        self._stop.set()
        with contextlib.suppress(ValueError):  # (running in another thread)
            self._blocks.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set() or (self._cancel is not None and self._cancel.is_set())

    def _generate(self) -> Generator[np.ndarray, None, None]:
        synthesizer, rendering, rate = self._synthesizer, self.rendering, self.sample_rate
        live = None
        clips: Iterator[np.ndarray] = iter(())
        try:
            if self.stopped:
                return
            prior = self._voice_loudness()
            live = LiveMaster(rate, rendering, prior)
            out = LoudnessMeter(rate)
            stitcher = Stitcher(rate, rendering)
            live.append(stitcher.lead_in())
            chunked = [fit(segment.chunks, synthesizer.max_chars) for segment in self._segments]
            clips = synthesizer.clips(chunked)
            for segment, chunks in zip(self._segments, chunked, strict=True):
                if self.stopped:
                    return
                for _ in chunks:
                    live.append(stitcher.speak(next(clips)))
                live.append(stitcher.end(segment.pause))
                live.settle()
                block = live.take()
                if len(block):
                    out.feed(block)
                    self.samples += len(block)
                    yield block
            live.append(stitcher.tail())
            live.settle(final=True)
            block = live.take(final=True)
            out.feed(block)
            self.samples += len(block)
            self.loudness = out.integrated
            self._refine(live)
            yield block
        finally:
            self._stop.set()
            if isinstance(clips, Generator):
                clips.close()  # (its worker threads start nothing more)
            self._synthesizer.close()
            if live is not None:
                live.close()

    # -- the voice's loudness

    def _loudness_file(self) -> Path | None:
        if self._cache is None:
            return None
        identity = {"engine": self._synthesizer.engine.describe(),
                    "voice": self.voice.sound_identity(), "fade": self.rendering.fade}  # fmt: skip
        payload = json.dumps(identity, sort_keys=True, default=str).encode()
        return self._cache.voices / f"loudness-{hashlib.sha256(payload).hexdigest()[:32]}.json"

    def _voice_loudness(self) -> float | None:
        """The voice's loudness, from the cache, else measured now on a calibration text
        (and kept)."""
        path = self._loudness_file()
        if path is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                kept = json.loads(path.read_text())
                loudness = float(kept["loudness"])
                if math.isfinite(loudness):
                    return loudness
        # Stitched as a narration is (the pauses count in its gated loudness too).
        rate, synthesizer = self.sample_rate, self._synthesizer
        segments = split_text(CALIBRATION_TEXT, language=self.voice.language,
                              rendering=self.rendering)  # fmt: skip
        chunked = [fit(segment.chunks, synthesizer.max_chars) for segment in segments]
        clips = synthesizer.clips(chunked)
        stitcher, meter = Stitcher(rate, self.rendering), LoudnessMeter(rate)
        for segment, chunks in zip(segments, chunked, strict=True):
            for _ in chunks:
                meter.feed(stitcher.speak(next(clips)))
            meter.feed(stitcher.end(segment.pause))
        loudness = meter.integrated
        if not math.isfinite(loudness):
            return None
        logger.debug("voice %s measures %.2f LUFS", self.voice.name, loudness)
        self._keep(path, loudness, meter.samples / rate)
        return loudness

    def _refine(self, live: LiveMaster) -> None:
        """Fold what this stream measured into the voice's kept loudness."""
        path, measured = self._loudness_file(), live.source_loudness
        seconds = live.programme.duration
        if path is None or not math.isfinite(measured) or seconds < MIN_REFINE_SECONDS:
            return
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            kept = json.loads(path.read_text())
            old, weight = float(kept["loudness"]), min(float(kept["seconds"]), PRIOR_WEIGHT_CAP)
            energy = weight * 10 ** (old / 10) + seconds * 10 ** (measured / 10)
            measured = 10 * math.log10(energy / (weight + seconds))
            seconds += weight
        self._keep(path, measured, seconds)

    @staticmethod
    def _keep(path: Path | None, loudness: float, seconds: float) -> None:
        if path is None:
            return
        try:
            write_atomically(path, json.dumps({"loudness": loudness, "seconds": seconds}).encode())
        except OSError as exc:
            logger.warning("could not keep the voice's loudness in %s: %s", path.parent, exc)


def _close_loaded(loading: Future[Engine]) -> None:
    if not loading.cancelled() and loading.exception() is None:
        loading.result().close()


def stream(
    text: str,
    *,
    voice: str | Path | Voice | None = None,
    rendering: Rendering | None = None,
    device: str = "auto",
    engine: Engine | Future[Engine] | None = None,
    cache: ClipCache | bool = True,
    lexicon: str | Path | Lexicon | None = None,
    cancel: threading.Event | None = None,
) -> AudioStream:
    """Narrate *text* as a stream of mastered mono float32 blocks (an :class:`AudioStream`).

    The arguments are :func:`~narrator.pipeline.narrate`'s.  A loaded *engine* stays the
    caller's, and several streams may share it from different threads at once; without
    one, the voice's model loads (while the text is split) and is closed with the stream.
    Setting *cancel*, or closing the stream, stops synthesis before the next sentence.
    """
    if not isinstance(text, str):
        raise OptionError(f"stream(): the text must be a str, not {type(text).__name__}")
    if engine is not None and not isinstance(engine, (Engine, Future)):
        raise OptionError("stream(): engine must be a loaded Engine, a Future of one, or None")
    if not isinstance(cache, (bool, ClipCache)):
        raise OptionError("stream(): cache must be True, False or a ClipCache")
    chosen = auto_voice(text) if voice == AUTO_VOICE else load_voice(voice)
    clip_cache = ClipCache() if cache is True else (cache or None)
    return AudioStream(text, chosen, rendering or Rendering(), device, engine, clip_cache,
                       lexicon, cancel)  # fmt: skip


# -- encoded streams -----------------------------------------------------------------


def pcm16(block: np.ndarray) -> bytes:
    """*block* as 16-bit little-endian PCM."""
    return np.round(np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int) -> bytes:
    """The header of a 16-bit mono WAV stream of unknown length: the RIFF and data sizes
    are 0xFFFFFFFF, as players that read WAV from a pipe expect."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
            + b"data" + struct.pack("<I", unknown))  # fmt: skip


def stream_rate(format: str, sample_rate: int) -> int:
    """The sample rate of a *format* stream made from audio at *sample_rate*."""
    if format == "opus":
        return OPUS_RATE
    if format == "mp3" and sample_rate < 32_000:
        return 44_100  # MPEG-1 layer III, as files are (see narrator.encode.MP3_RATE)
    return sample_rate


def stream_bytes(
    text: str,
    *,
    format: str,
    bitrate: int | None = None,
    **options: Any,
) -> Iterator[bytes]:
    """Narrate *text* into encoded bytes, handed on as soon as the encoder makes them.

    *format* is one of :data:`STREAM_FORMATS`; *bitrate* (kbit/s) is for the lossy ones
    (the rendering's, by default).  The other arguments are :func:`stream`'s.  Closing
    the iterator stops synthesis and the encoder.
    """
    if format not in STREAM_FORMATS:
        raise OptionError(f"unknown stream format {format!r}; choose one of: "
                          f"{', '.join(STREAM_FORMATS)}")  # fmt: skip
    rendering = with_stream_format(options.pop("rendering", None) or Rendering(), format)
    audio = stream(text, rendering=rendering, **options)
    return encode(audio, format, bitrate or rendering.bitrate)


def encode(audio: AudioStream, format: str, bitrate: int) -> Generator[bytes, None, None]:
    """*audio* encoded as a *format* stream (see :func:`stream_bytes`); closing the
    iterator closes *audio*.  The rendering of *audio* should be
    :func:`with_stream_format`'s, for the peak margin the format needs."""
    with audio:
        if format in ("pcm", "wav"):
            if format == "wav":
                yield wav_header(audio.sample_rate)
            for block in audio:
                yield pcm16(block)
            return
        yield from _ffmpeg(audio, format, bitrate)


def _ffmpeg(audio: AudioStream, format: str, bitrate: int) -> Iterator[bytes]:
    """*audio* encoded by ffmpeg: a thread feeds it the blocks while this reads what it
    writes."""
    codec, muxer = _ENCODERS[format]
    rate = stream_rate(format, audio.sample_rate)
    args = [*codec] if format == "flac" else [*codec, "-b:a", f"{bitrate}k"]
    if rate != audio.sample_rate:
        args += ["-af", "aresample=resampler=soxr", "-ar", str(rate)]
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "f32le",
        "-ar", str(audio.sample_rate), "-ac", "1", "-i", "pipe:0", "-map_metadata", "-1",
        *args, "-flush_packets", "1", "-f", muxer, "pipe:1",
    ]  # fmt: skip
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)  # fmt: skip
    except OSError as exc:
        raise OutputError(f"the encoder could not be started: {exc}") from None
    assert process.stdin is not None and process.stdout is not None
    failure: list[BaseException] = []

    def feed() -> None:
        assert process.stdin is not None
        try:
            for block in audio:
                process.stdin.write(np.asarray(block, dtype="<f4").tobytes())
                process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            audio.close()  # the encoder went away (it was stopped, or failed)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading side
            failure.append(exc)
        finally:
            with contextlib.suppress(OSError, ValueError):
                process.stdin.close()

    feeder = threading.Thread(target=feed, name="narrator-stream-feed", daemon=True)
    feeder.start()
    finished = False
    try:
        fd = process.stdout.fileno()
        while True:
            data = os.read(fd, READ_SIZE)
            if not data:
                break
            yield data
        finished = True
    finally:
        if not finished:
            audio.close()
            process.kill()
        feeder.join()
        code = process.wait()
        errors = process.stderr.read() if process.stderr is not None else b""
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    if failure:
        raise failure[0]
    if code != 0:
        lines = errors.decode("utf-8", "replace").strip().splitlines()
        raise OutputError(f"the encoder failed: {lines[0] if lines else 'no message'}")


def format_for(format: str) -> AudioFormat:
    """The file format whose rendering rules a *format* stream follows (its peak margin)."""
    return {"pcm": AudioFormat.WAV, "aac": AudioFormat.M4A}.get(format) or AudioFormat(format)


def with_stream_format(rendering: Rendering, format: str) -> Rendering:
    return replace(rendering, format=format_for(format))
