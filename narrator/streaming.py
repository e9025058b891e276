"""Streaming narration: mastered audio blocks as each sentence is synthesized.

STAND-IN (branch ``serve``): a simple version with the exact signatures of the streaming
contract (CONTRACTS.md, issue 14), so that ``narrator serve`` runs and streams before the
``stream`` branch is merged; the lead replaces this file with that branch's.  It masters
crudely: one gain planned from the first sentence's loudness and a hard clip at the
ceiling, not the planned gain and true-peak limiter of the real one.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .cache import ClipCache
from .engines import Engine, load_engine
from .errors import OptionError, OutputError
from .loudness import db_to_gain, measure
from .rendering import DEFAULT_BITRATE, AudioFormat, Rendering
from .stitch import Stitcher
from .synthesis import Synthesizer
from .text import Lexicon, split_text
from .text.chunks import fit
from .voices import Voice, load_voice

STREAM_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
"""What :func:`stream_bytes` makes: MP3, Ogg Opus, AAC in ADTS, FLAC, WAV with a streaming
header, raw signed 16-bit little-endian PCM."""


class AudioStream:
    """Mastered mono float32 blocks at :attr:`sample_rate`, one per sentence; :meth:`close`
    stops synthesis before the next sentence."""

    def __init__(
        self,
        text: str,
        voice: Voice,
        rendering: Rendering,
        engine: Engine,
        own_engine: bool,
        cache: ClipCache | None,
        lexicon: str | Path | Lexicon | None,
        cancel: threading.Event | None,
    ) -> None:
        self.sample_rate = engine.sample_rate
        self._engine, self._own = engine, own_engine
        self._cancel = cancel or threading.Event()
        self._stop = threading.Event()
        self._closed = False
        try:
            self._segments = split_text(text, language=voice.language, rendering=rendering,
                                        lexicon=[lexicon, voice.lexicon_path()],
                                        limit=engine.max_chars)  # fmt: skip
            self._synthesizer = Synthesizer(voice, engine=engine, cache=cache)
        except BaseException:
            self.close()
            raise
        self._rendering = rendering
        self._blocks = self._generate()

    def _generate(self) -> Iterator[np.ndarray]:
        rate, rendering = self.sample_rate, self._rendering
        stitcher = Stitcher(rate, rendering)
        gain: float | None = None
        ceiling = db_to_gain(rendering.true_peak)
        pending = [stitcher.lead_in()]
        for segment in self._segments:
            if self._stopped():
                return
            chunks = fit(segment.chunks, self._synthesizer.max_chars)
            for clip in self._synthesizer.clips([chunks]):
                pending.append(stitcher.speak(clip))
            pending.append(stitcher.end(segment.pause))
            block = np.concatenate(pending).astype(np.float32)
            pending = []
            if gain is None and np.any(block):
                loudness, _ = measure([block], rate)
                gain = db_to_gain(rendering.loudness - loudness) if np.isfinite(loudness) else 1.0
            yield np.clip(block * (gain or 1.0), -ceiling, ceiling).astype(np.float32)
        if not self._stopped():
            yield stitcher.tail()

    def _stopped(self) -> bool:
        return self._cancel.is_set() or self._stop.is_set()

    def stop(self) -> None:
        """Stop before the next sentence; unlike :meth:`close`, safe from another thread
        while one iterates."""
        self._stop.set()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        if self._closed:
            raise StopIteration
        try:
            return next(self._blocks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop: no sentence is synthesized after this."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        blocks = getattr(self, "_blocks", None)
        if blocks is not None:
            blocks.close()
        if self._own:
            self._engine.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(
    text: str,
    *,
    voice: str | Path | Voice | None = None,
    rendering: Rendering | None = None,
    device: str = "auto",
    engine: Engine | None = None,
    cache: ClipCache | bool = True,
    lexicon: str | Path | Lexicon | None = None,
    cancel: threading.Event | None = None,
) -> AudioStream:
    """Narrate *text* as a stream of mastered blocks (see :class:`AudioStream`)."""
    chosen = load_voice(voice)
    own = engine is None
    loaded = engine if engine is not None else load_engine(chosen, device=device)
    clips = ClipCache() if cache is True else (cache or None)
    return AudioStream(text, chosen, rendering or Rendering(), loaded, own, clips, lexicon,
                       cancel)  # fmt: skip


_CODECS: dict[str, tuple[list[str], str]] = {
    "mp3": (["-c:a", "libmp3lame"], "mp3"),
    "opus": (["-c:a", "libopus", "-application", "voip", "-page_duration", "100000"], "ogg"),
    "aac": (["-c:a", "aac"], "adts"),
    "flac": (["-c:a", "flac"], "flac"),
}


def stream_bytes(
    text: str, *, format: str, bitrate: int | None = None, **options: Any
) -> Iterator[bytes]:
    """:func:`stream`'s audio encoded as *format* (one of :data:`STREAM_FORMATS`), in
    pieces as they are made."""
    if format not in STREAM_FORMATS:
        raise OptionError(f"unknown stream format {format!r}; choose one of: "
                          f"{', '.join(STREAM_FORMATS)}")  # fmt: skip
    audio = stream(text, **options)
    return _encoded(audio, format, bitrate or DEFAULT_BITRATE)


def _pcm16(block: np.ndarray) -> bytes:
    return np.clip(np.round(block * 32767), -32768, 32767).astype("<i2").tobytes()


def _wav_header(rate: int) -> bytes:
    """A WAV header for a stream of unknown length (sizes 0xFFFFFFFF, as streaming
    servers write them)."""
    unknown = (0xFFFFFFFF).to_bytes(4, "little")
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
    fmt += (rate * 2).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return b"RIFF" + unknown + b"WAVEfmt " + (16).to_bytes(4, "little") + fmt + b"data" + unknown


def _encoded(audio: AudioStream, fmt: str, bitrate: int) -> Iterator[bytes]:
    with audio:
        if fmt in ("pcm", "wav"):
            if fmt == "wav":
                yield _wav_header(audio.sample_rate)
            for block in audio:
                yield _pcm16(block)
            return
        yield from _ffmpeg(audio, fmt, bitrate)


def _ffmpeg(audio: AudioStream, fmt: str, bitrate: int) -> Iterator[bytes]:
    """*audio* through an ffmpeg process: synthesis feeds its input on a thread of its own
    while its output is handed on as soon as it comes."""
    from .encode import ffmpeg_exe, output_rate

    codec, muxer = _CODECS[fmt]
    rate = audio.sample_rate
    out_rate = output_rate(AudioFormat.OPUS if fmt == "opus" else AudioFormat.MP3, rate)
    args = [*codec]
    if fmt != "flac":
        args += ["-b:a", f"{bitrate}k"]
    if fmt in ("mp3", "opus") and out_rate != rate:
        args += ["-ar", str(out_rate)]
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar",
               str(rate), "-ac", "1", "-i", "pipe:0", "-map_metadata", "-1", *args,
               "-flush_packets", "1", "-f", muxer, "pipe:1"]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None and stdout is not None
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with audio:
                for block in audio:
                    stdin.write(block.astype("<f4").tobytes())
                    stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away and killed the encoder
        except BaseException as exc:  # handed to the reader
            failure.append(exc)
        finally:
            with contextlib.suppress(OSError, ValueError):
                stdin.close()

    writer = threading.Thread(target=write, name="narrator-stream-encoder", daemon=True)
    writer.start()
    try:
        while data := stdout.read1(1 << 16):  # type: ignore[attr-defined]
            yield data
        writer.join()
        if failure:
            raise failure[0]
        if process.wait() != 0:
            raise OutputError(f"the {fmt} encoder failed")
    finally:
        audio.stop()
        if process.poll() is None:
            process.kill()
        process.wait()
        writer.join()
        stdout.close()
