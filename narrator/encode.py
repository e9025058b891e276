"""Encoding the finished programme: audio sinks per format, tags, and safe output files."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import soundfile as sf

from .errors import OutputError
from .rendering import AudioFormat

MP3_MAX_LSF_BITRATE = 160
"""MPEG-2 layer III (sample rates under 32 kHz) stops at 160 kbit/s."""

MP3_RESAMPLE_RATE = 44_100
"""The rate an MP3 is resampled to when the bitrate asked for needs MPEG-1."""


class Sink(Protocol):
    """Where mastered audio goes, one block at a time."""

    def write(self, block: np.ndarray) -> None: ...

    def close(self) -> None: ...


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (``IMAGEIO_FFMPEG_EXE`` overrides it)."""
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:  # no binary for this platform
        raise OutputError(f"no ffmpeg available to encode lossy audio: {exc}") from None


class SoundfileSink:
    """WAV and FLAC, 16-bit, through libsndfile."""

    def __init__(self, path: Path, fmt: AudioFormat, sample_rate: int) -> None:
        self._file = sf.SoundFile(
            path, "w", samplerate=sample_rate, channels=1, format=fmt.name, subtype="PCM_16"
        )

    def write(self, block: np.ndarray) -> None:
        self._file.write(np.clip(block, -1.0, 1.0))

    def close(self) -> None:
        self._file.close()


class FfmpegSink:
    """Lossy formats, encoded by an ffmpeg process fed raw float samples on its stdin."""

    def __init__(self, path: Path, codec_args: list[str], muxer: str, sample_rate: int) -> None:
        self._log = tempfile.TemporaryFile()
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
            *codec_args, "-map_metadata", "-1", "-f", muxer, str(path),
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
        self._log.close()

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()
        self._log.close()

    def _fail(self) -> None:
        self._process.kill()
        self._process.wait()
        self._log.seek(0)
        detail = self._log.read().decode("utf-8", "replace").strip().splitlines()
        raise OutputError(f"the encoder failed: {detail[-1] if detail else 'no message'}")


def open_sink(path: Path, fmt: AudioFormat, sample_rate: int, bitrate: int) -> Sink:
    """A sink that writes *fmt* audio to *path*."""
    if fmt is AudioFormat.MP3:
        args = ["-c:a", "libmp3lame", "-b:a", f"{bitrate}k"]
        if sample_rate < 32_000 and bitrate > MP3_MAX_LSF_BITRATE:
            args += ["-ar", str(MP3_RESAMPLE_RATE)]
        return FfmpegSink(path, args, "mp3", sample_rate)
    return SoundfileSink(path, fmt, sample_rate)


def read_blocks(path: Path, blocksize: int = 1 << 16) -> Iterator[np.ndarray]:
    """Decode a WAV or FLAC file in mono float blocks."""
    with sf.SoundFile(path) as f:
        for block in f.blocks(blocksize=blocksize, dtype="float64", always_2d=True):
            yield block.mean(axis=1)


def decode_blocks(path: Path, fmt: AudioFormat, blocksize: int = 1 << 16) -> Iterator[np.ndarray]:
    """Decode what narrator wrote, in mono float blocks; lossy formats go through ffmpeg."""
    if not fmt.lossy:
        yield from read_blocks(path, blocksize)
        return
    command = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-f", "f32le", "-"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        while data := process.stdout.read(blocksize * 4):
            yield np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").astype(np.float64)
    if process.returncode != 0:
        raise OutputError(f"{path}: the encoded audio could not be decoded to check it")


_ID3_FRAMES = {
    "title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON",
    "date": "TDRC", "composer": "TCOM", "comment": "COMM",
}  # fmt: skip


def write_tags(path: Path, fmt: AudioFormat, tags: dict[str, str]) -> None:
    """Write *tags* (title, artist, album, genre, date, composer, comment) into *path*."""
    tags = {k: v for k, v in tags.items() if v}
    if not tags:
        return
    if fmt is AudioFormat.FLAC:
        from mutagen.flac import FLAC

        flac = FLAC(path)
        for key, value in tags.items():
            flac[key.upper()] = value
        flac.save()
        return
    from mutagen import id3

    frames = []
    for key, value in tags.items():
        frame_id = _ID3_FRAMES.get(key)
        if frame_id is None:
            frames.append(id3.TXXX(encoding=3, desc=key, text=value))
        elif frame_id == "COMM":
            frames.append(id3.COMM(encoding=3, lang="eng", desc="", text=value))
        else:
            frames.append(getattr(id3, frame_id)(encoding=3, text=value))
    if fmt is AudioFormat.WAV:
        from mutagen.wave import WAVE

        wave = WAVE(path)
        if wave.tags is None:
            wave.add_tags()
        assert wave.tags is not None
        for frame in frames:
            wave.tags.add(frame)
        wave.save()
        return
    tag = id3.ID3()
    for frame in frames:
        tag.add(frame)
    tag.save(path, v2_version=3)


@contextlib.contextmanager
def atomic_output(destination: Path) -> Iterator[Path]:
    """A temporary path beside *destination*, moved onto it only if the block succeeds.

    On any failure or interruption the temporary file is removed and an existing
    *destination* is left untouched.
    """
    directory = destination.parent if str(destination.parent) else Path(".")
    if destination.is_dir():
        raise OutputError(f"{destination}: is a directory; give a file name such as story.mp3")
    if not directory.is_dir():
        raise OutputError(f"{destination}: the folder {directory} does not exist")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise OutputError(f"{destination}: cannot write there ({exc.strerror or exc})") from None
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def copy_to_stream(path: Path, stream: BinaryIO) -> None:
    """Copy a finished file to *stream* (standard output in a pipeline)."""
    with open(path, "rb") as f:
        shutil.copyfileobj(f, stream, 1 << 16)
    stream.flush()
