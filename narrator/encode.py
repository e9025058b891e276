"""Encoding the finished programme: audio sinks per format, tags, and safe output files."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import imageio_ffmpeg
import numpy as np
import soundfile as sf

from .destinations import Destinations
from .errors import OutputError
from .rendering import DEFAULT_BITRATE, AudioFormat

if TYPE_CHECKING:
    from .timeline import Chapter

logger = logging.getLogger(__name__)

MP3_RATE = 44_100
"""Narrations at a lower rate are resampled to this for MP3.  MPEG-2 layer III (the
half rates) plays in fewer places and its quantization noise lifts true peaks by up
to 1.5 dB; MPEG-1 at 44.1 kHz is what audiobook platforms ask for."""


class Sink(Protocol):
    """Where mastered audio goes, one block at a time."""

    def write(self, block: np.ndarray) -> None: ...

    def close(self) -> None: ...


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (``IMAGEIO_FFMPEG_EXE`` overrides it)."""
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:  # no binary for this platform
        raise OutputError(f"no ffmpeg available to encode lossy audio: {exc}") from None


class SoundfileSink:
    """WAV and FLAC, 16-bit, through libsndfile."""

    def __init__(self, path: Path, fmt: AudioFormat, sample_rate: int) -> None:
        self._path = path
        try:
            self._file = sf.SoundFile(
                path, "w", samplerate=sample_rate, channels=1, format=fmt.name, subtype="PCM_16"
            )
        except sf.SoundFileError as exc:
            raise self._error(exc) from None

    def write(self, block: np.ndarray) -> None:
        try:
            self._file.write(np.clip(block, -1.0, 1.0))
        except sf.SoundFileError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        try:
            self._file.close()
        except sf.SoundFileError as exc:
            raise self._error(exc) from None

    def _error(self, exc: sf.SoundFileError) -> OSError:
        """An OSError naming the file, with libsndfile's own reason ("System error."
        alone says nothing; its detailed message says "No space left on device")."""
        detail = str(exc)
        with contextlib.suppress(Exception):  # (the detail comes from a private handle)
            handle = self._file._file
            detail = sf._ffi.string(sf._snd.sf_strerror(handle)).decode("utf-8", "replace")
        reason = detail.split(" : ", 1)[-1].strip().rstrip(".")
        return OSError(errno.EIO, reason, str(self._path))


class FfmpegSink:
    """Lossy formats, encoded by an ffmpeg process fed raw float samples on its stdin."""

    def __init__(
        self, path: Path, codec_args: list[str], muxer: str, sample_rate: int,
        metadata: Path | None = None,
    ) -> None:  # fmt: skip
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the encoder
        self._metadata = metadata
        inputs = ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0"]
        if metadata is not None:
            inputs += ["-f", "ffmetadata", "-i", str(metadata), "-map", "0:a",
                       "-map_metadata", "1", "-map_chapters", "1"]  # fmt: skip
        else:
            inputs += ["-map_metadata", "-1"]
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs,
            *codec_args, "-f", muxer, str(path),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=self._log)
        assert self._process.stdin is not None
        self._stdin = self._process.stdin

    def write(self, block: np.ndarray) -> None:
        try:
            self._stdin.write(np.asarray(block, dtype="<f4").tobytes())
        except BrokenPipeError:
            self._fail()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._stdin.close()
        if self._process.wait() != 0:
            self._fail()
        self._cleanup()

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        self._log.close()
        if self._metadata is not None:
            self._metadata.unlink(missing_ok=True)

    def _fail(self) -> None:
        self._process.kill()
        self._process.wait()
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        self._cleanup()
        first = next((line for line in lines if "rror" in line), lines[0] if lines else "")
        first = re.sub(r"^(\[[^]]*\]\s*)+", "", first.strip())  # "[out#0/ogg @ 0x55d8...]"
        raise OutputError(f"the encoder failed: {first or 'no message'}")


VORBIS_MAX_LOW_RATE_BITRATE = 80
"""libvorbis cannot encode mono under 32 kHz at more than this (kbit/s)."""

OPUS_RATE = 48_000
"""Opus always runs at 48 kHz."""

_FFMPEG_FORMATS: dict[AudioFormat, tuple[list[str], str]] = {
    AudioFormat.MP3: (["-c:a", "libmp3lame"], "mp3"),
    AudioFormat.OGG: (["-c:a", "libvorbis"], "ogg"),
    AudioFormat.OPUS: (["-c:a", "libopus", "-application", "voip"], "ogg"),
    AudioFormat.M4A: (["-c:a", "aac", "-movflags", "+faststart"], "ipod"),
    # Audiobook players (Apple Books, iPod) know an audiobook by the major brand "M4B ".
    AudioFormat.M4B: (["-c:a", "aac", "-movflags", "+faststart", "-brand", "M4B "], "ipod"),
}


def output_rate(fmt: AudioFormat, sample_rate: int) -> int:
    """The sample rate of a *fmt* file made from audio at *sample_rate*."""
    if fmt is AudioFormat.OPUS:
        return OPUS_RATE
    if fmt is AudioFormat.MP3 and sample_rate < 32_000:
        return MP3_RATE
    return sample_rate


def open_sink(
    path: Path,
    fmt: AudioFormat,
    sample_rate: int,
    bitrate: int,
    chapters: Sequence[Chapter] = (),
) -> Sink:
    """A sink that writes *fmt* audio to *path*.

    *chapters* are written by the encoder for MP4 formats; for the others
    :func:`narrator.tags.write_tags` adds them afterwards.
    """
    if fmt not in _FFMPEG_FORMATS:
        return SoundfileSink(path, fmt, sample_rate)
    codec, muxer = _FFMPEG_FORMATS[fmt]
    args = [*codec, "-b:a", f"{bitrate}k"]
    rate = output_rate(fmt, sample_rate)
    if rate != sample_rate:
        args += ["-af", "aresample=resampler=soxr", "-ar", str(rate)]
    if fmt is AudioFormat.OGG and sample_rate < 32_000 and bitrate > VORBIS_MAX_LOW_RATE_BITRATE:
        args[args.index("-b:a") + 1] = f"{VORBIS_MAX_LOW_RATE_BITRATE}k"
        _say_vorbis_cap(sample_rate, bitrate)
    metadata = None
    if chapters and fmt in (AudioFormat.M4A, AudioFormat.M4B):
        metadata = path.with_name(path.name + ".chapters")
        metadata.write_text(_ffmetadata(chapters), "utf-8")
    return FfmpegSink(path, args, muxer, sample_rate, metadata)


@functools.cache
def _say_vorbis_cap(sample_rate: int, bitrate: int) -> None:
    """Say once (a warning when the bitrate was asked for) that Vorbis gets less."""
    logger.log(
        logging.INFO if bitrate == DEFAULT_BITRATE else logging.WARNING,
        "Ogg Vorbis at %d Hz takes at most %d kbit/s; using that instead of %d",
        sample_rate, VORBIS_MAX_LOW_RATE_BITRATE, bitrate,
    )  # fmt: skip


def _ffmetadata(chapters: Sequence[Chapter]) -> str:
    def escape(text: str) -> str:
        return "".join("\\" + c if c in "=;#\\\n" else c for c in text)

    lines = [";FFMETADATA1"]
    for chapter in chapters:
        lines += [
            "[CHAPTER]", "TIMEBASE=1/1000",
            f"START={round(chapter.start * 1000)}", f"END={round(chapter.end * 1000)}",
            f"title={escape(chapter.title)}",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


def read_blocks(path: Path, blocksize: int = 1 << 16) -> Iterator[np.ndarray]:
    """Decode a WAV or FLAC file in mono float blocks."""
    with sf.SoundFile(path) as f:
        for block in f.blocks(blocksize=blocksize, dtype="float64", always_2d=True):
            yield block.mean(axis=1)


def decode_blocks(
    path: Path, fmt: AudioFormat, sample_rate: int, blocksize: int = 1 << 16
) -> Iterator[np.ndarray]:
    """Decode what narrator wrote, in mono float blocks at *sample_rate*.

    Lossy formats are decoded (and, for Opus, resampled) by ffmpeg.
    """
    if not fmt.lossy:
        yield from read_blocks(path, blocksize)
        return
    command = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1",
               "-ar", str(sample_rate), "-f", "f32le", "-"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        while data := process.stdout.read(blocksize * 4):
            yield np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").astype(np.float64)
    if process.returncode != 0:
        raise OutputError(f"{path}: the encoded audio could not be decoded to check it")


@contextlib.contextmanager
def atomic_output(destination: Path) -> Iterator[Path]:
    """A scratch path for *destination*, moved onto it only if the block succeeds.

    On any failure or interruption the scratch file is removed and an existing
    *destination* is left untouched (see :class:`narrator.destinations.Destinations`,
    which also commits several files together).
    """
    with Destinations() as outputs:
        temporary = outputs.add(destination)
        outputs.ready()
        with outputs.writing():
            yield temporary
        outputs.commit()


def copy_to_stream(path: Path, stream: BinaryIO) -> None:
    """Copy a finished file to *stream* (standard output in a pipeline)."""
    try:
        with open(path, "rb") as f:
            shutil.copyfileobj(f, stream, 1 << 16)
        stream.flush()
    except BrokenPipeError:
        raise  # the reader went away: the caller decides (the CLI exits 141)
    except (OSError, ValueError) as exc:  # ValueError: the stream is closed
        where = "standard output" if getattr(stream, "name", None) == "<stdout>" else "the stream"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputError(f"cannot write the audio to {where}: {reason}") from None
