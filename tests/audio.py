"""Measuring what narrator wrote: decoders, loudness meters and a pause finder.

These helpers deliberately avoid narrator's own code (its decoder, its meter),
so that a test measures the output with independent tools:

* :func:`decode` reads WAV and FLAC with soundfile and MP3 with the ffmpeg binary
  from imageio-ffmpeg, and cross-checks the MP3 with soundfile's own decoder;
* :func:`integrated_loudness` is pyloudnorm's BS.1770 meter;
* :func:`ebur128` runs ffmpeg's ``ebur128=peak=true`` filter, a second meter
  that also gives the true peak;
* :func:`speech_gaps` finds the pauses between stretches of speech.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FRAME = 0.010
"""Seconds per frame of the RMS envelope that :func:`speech_gaps` uses."""

SILENCE_DB = -45.0
"""dBFS RMS under which a frame counts as silent.

Narration is normalized to about -18 LUFS, so speech frames sit roughly between
-35 and -10 dBFS, while the room tone under the pauses is at -72 dBFS and MP3
coding noise in a pause stays well under -60 dBFS.  -45 dBFS leaves a wide
margin on both sides.  For another loudness target move it by the same amount
(-50 dBFS at -23 LUFS); otherwise soft onsets and endings of the quieter speech
count as silence and lengthen the measured gaps by a few frames.
"""

MIN_GAP = 0.15
"""Seconds a silent stretch must last to count as a gap between speech."""


def ffmpeg() -> str:
    """The ffmpeg binary that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass
class Decoded:
    """Audio decoded from a file, as mono float64 samples."""

    audio: np.ndarray
    rate: int
    decoder: str
    """``"soundfile"`` or ``"ffmpeg"``."""

    cross_check: Decoded | None = None
    """For MP3: the same file decoded by the other decoder (soundfile)."""

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


def decode_soundfile(path: str | Path) -> Decoded:
    """Decode *path* with soundfile (libsndfile: WAV, FLAC and, from 1.1, MP3)."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return Decoded(data.mean(axis=1), int(rate), "soundfile")


_INPUT_RATE = re.compile(r"Stream #0:\d+.*?: Audio: .*?(\d+) Hz")


def decode_ffmpeg(path: str | Path) -> Decoded:
    """Decode *path* with ffmpeg to mono 32-bit float, at the file's own sample rate."""
    command = [ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path),
               "-ac", "1", "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, check=False)
    log = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise AssertionError(f"ffmpeg could not decode {path}:\n{log[-2000:]}")
    match = _INPUT_RATE.search(log)
    if match is None:
        raise AssertionError(f"ffmpeg did not report the sample rate of {path}:\n{log[-2000:]}")
    audio = np.frombuffer(done.stdout[: len(done.stdout) // 4 * 4], dtype="<f4")
    return Decoded(audio.astype(np.float64), int(match.group(1)), "ffmpeg")


def decode(path: str | Path) -> Decoded:
    """Decode any file narrator writes, chosen by its suffix.

    WAV and FLAC go through soundfile.  MP3 goes through ffmpeg, and is also
    decoded by soundfile, which must succeed; that result is kept in
    :attr:`Decoded.cross_check` so tests can compare the two.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".wav", ".flac"):
        return decode_soundfile(path)
    if suffix == ".mp3":
        decoded = decode_ffmpeg(path)
        decoded.cross_check = decode_soundfile(path)
        return decoded
    raise ValueError(f"{path}: no decoder for {suffix!r} files")


def is_mp3_start(data: bytes) -> bool:
    """True if *data* opens like an MP3 file: an ID3v2 tag or an MPEG audio frame sync."""
    if data[:3] == b"ID3":
        return True
    return len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS, measured by pyloudnorm (ITU-R BS.1770-4)."""
    import pyloudnorm

    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(audio, dtype=np.float64)))


@dataclass(frozen=True)
class Ebur128:
    """What ffmpeg's ``ebur128`` filter reports in its summary."""

    integrated: float
    """Integrated loudness, LUFS."""

    true_peak: float
    """True peak, dBTP (ffmpeg prints it as dBFS)."""


_SUMMARY_I = re.compile(r"^\s*I:\s*(-?(?:\d+(?:\.\d+)?|inf))\s+LUFS", re.MULTILINE)
_SUMMARY_PEAK = re.compile(r"^\s*Peak:\s*(-?(?:\d+(?:\.\d+)?|inf))\s+dBFS", re.MULTILINE)


def ebur128(path: str | Path) -> Ebur128:
    """Measure *path* with ffmpeg's EBU R128 meter, true peak included."""
    command = [ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path),
               "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, check=False)
    log = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise AssertionError(f"ffmpeg ebur128 failed on {path}:\n{log[-2000:]}")
    summary = log[log.rfind("Summary:") :] if "Summary:" in log else ""
    loudness = _SUMMARY_I.search(summary)
    peak = _SUMMARY_PEAK.search(summary)
    if loudness is None or peak is None:
        raise AssertionError(f"no ebur128 summary for {path}:\n{log[-2000:]}")
    return Ebur128(float(loudness.group(1)), float(peak.group(1)))


def rms_envelope_db(audio: np.ndarray, rate: int, frame: float = FRAME) -> np.ndarray:
    """RMS level of consecutive *frame*-second frames, in dBFS."""
    size = max(1, round(frame * rate))
    count = len(audio) // size
    frames = np.asarray(audio[: count * size], dtype=np.float64).reshape(count, size)
    rms = np.sqrt((frames**2).mean(axis=1))
    with np.errstate(divide="ignore"):
        return np.asarray(20.0 * np.log10(rms))


def speech_gaps(
    audio: np.ndarray,
    rate: int,
    threshold_db: float = SILENCE_DB,
    min_gap: float = MIN_GAP,
    frame: float = FRAME,
) -> list[tuple[float, float]]:
    """The silent gaps between speech, as (start, duration) in seconds.

    A frame is silent when its RMS is under *threshold_db* dBFS.  A gap is a run
    of silent frames lasting at least *min_gap* seconds with speech on both
    sides, so the lead-in before the first word and the tail after the last one
    are not gaps.  Real speech holds silences of its own: stop consonants leave
    up to about 0.12 s, and a comma can leave 0.4 s.  Pass a *min_gap* above the
    former when the pauses asked for allow it, and measure pauses on text
    without commas.
    """
    silent = rms_envelope_db(audio, rate, frame) < threshold_db
    if not len(silent):
        return []
    # Runs of equal values: edges where silent changes.
    edges = np.flatnonzero(np.diff(silent.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(silent)]])
    gaps = []
    for start, stop in zip(starts, stops, strict=True):
        if not silent[start] or start == 0 or stop == len(silent):
            continue
        duration = (stop - start) * frame
        if duration >= min_gap - 1e-9:
            gaps.append((round(float(start * frame), 6), round(float(duration), 6)))
    return gaps


def speech_seconds(
    audio: np.ndarray, rate: int, threshold_db: float = SILENCE_DB, frame: float = FRAME
) -> float:
    """Seconds of frames louder than *threshold_db* dBFS."""
    return float((rms_envelope_db(audio, rate, frame) >= threshold_db).sum() * frame)


def narrator_script() -> str:
    """The installed ``narrator`` console script (the entry point, not ``python -m``)."""
    beside = Path(sysconfig.get_path("scripts")) / "narrator"
    found = str(beside) if beside.exists() else shutil.which("narrator")
    if found is None:
        pytest.fail("the narrator console script is not installed; pip install -e .")
    return found
