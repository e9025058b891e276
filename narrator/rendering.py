"""How a narration is rendered: pauses, loudness and the output format.

Who speaks (the voice) lives in :mod:`narrator.voices`; this module only says
how the spoken clips become one finished file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from .errors import OptionError

DEFAULT_SENTENCE_PAUSE = 0.45
"""Seconds of silence between two sentences of a paragraph."""

DEFAULT_PARAGRAPH_PAUSE = 1.0
"""Seconds of silence after the last sentence of a paragraph."""

DEFAULT_HEADING_PAUSE = 1.5
"""Seconds of silence after a heading (never less than the paragraph pause)."""

DEFAULT_SCENE_PAUSE = 2.0
"""Seconds of silence at a scene break (``* * *``; never less than the paragraph pause)."""

DEFAULT_LOUDNESS = -18.0
"""Target integrated loudness in LUFS (ITU-R BS.1770 / EBU R128)."""

DEFAULT_TRUE_PEAK = -2.0
"""True-peak ceiling in dBTP."""

DEFAULT_LEAD_IN = 0.6
"""Seconds of room tone before the first word."""

DEFAULT_TAIL = 1.2
"""Seconds of room tone after the last word."""

DEFAULT_FADE = 0.008
"""Seconds of fade at both ends of every clip, so joins never click."""

DEFAULT_ROOM_TONE_DB = -72.0
"""Level of the faint noise floor laid under the narration (dBFS RMS), so pauses never
drop to digital silence.  ``None`` turns it off."""

DEFAULT_BITRATE = 96
"""Kilobits per second for lossy formats."""

MAX_PAUSE = 60.0
"""The longest pause narrator accepts, in seconds."""

MAX_FADE = 0.1
"""The longest fade at a clip's edges, in seconds."""

LOUDNESS_RANGE = (-50.0, -5.0)
"""The target loudnesses narrator accepts, LUFS."""

TRUE_PEAK_RANGE = (-20.0, 0.0)
"""The true-peak ceilings narrator accepts, dBTP."""

ROOM_TONE_RANGE = (-120.0, -40.0)
"""Room tone levels narrator accepts, dBFS RMS: below -120 it is no longer there, above
-40 it is a hiss that the loudness target would have to make room for."""

MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""The bitrates of MPEG-1 layer III (kbit/s): LAME rounds any other to one of these."""

BITRATE_RANGES = {"ogg": (32, 192), "opus": (6, 256), "m4a": (16, 320), "m4b": (16, 320)}
"""The bitrates (kbit/s) each other lossy format takes: libvorbis refuses less than 32
for narration's mono voices and more than 192 at 44.1 kHz, libopus more than 256 for
mono, and ffmpeg's AAC encoder gives more than it is asked below 16."""


class AudioFormat(str, Enum):
    """Output container and codec."""

    MP3 = "mp3"
    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"
    """Ogg Vorbis."""
    OPUS = "opus"
    """Opus in an Ogg container."""
    M4A = "m4a"
    """AAC in MP4."""
    M4B = "m4b"
    """AAC in MP4, as an audiobook (with chapters)."""

    @property
    def lossy(self) -> bool:
        return self not in (AudioFormat.WAV, AudioFormat.FLAC)

    @classmethod
    def parse(cls, value: str) -> AudioFormat:
        try:
            return cls(value.lower().lstrip("."))
        except ValueError:
            known = ", ".join(f.value for f in cls)
            raise OptionError(f"unknown audio format {value!r}; choose one of: {known}") from None

    @classmethod
    def from_suffix(cls, suffix: str) -> AudioFormat | None:
        try:
            return cls(suffix.lower().lstrip("."))
        except ValueError:
            return None


class Boundary(str, Enum):
    """What follows a segment, which decides the pause after it."""

    SENTENCE = "sentence"
    PARAGRAPH = "paragraph"
    HEADING = "heading"
    SCENE = "scene"
    END = "end"


@dataclass(frozen=True)
class Rendering:
    """Every setting that turns clips into the finished audio file."""

    sentence_pause: float = DEFAULT_SENTENCE_PAUSE
    """Seconds between sentences of one paragraph."""

    paragraph_pause: float = DEFAULT_PARAGRAPH_PAUSE
    """Seconds between paragraphs."""

    heading_pause: float = DEFAULT_HEADING_PAUSE
    """Seconds after a heading; the paragraph pause if that is longer."""

    scene_pause: float = DEFAULT_SCENE_PAUSE
    """Seconds at a scene break; the paragraph pause if that is longer."""

    loudness: float = DEFAULT_LOUDNESS
    """Target integrated loudness, LUFS."""

    true_peak: float = DEFAULT_TRUE_PEAK
    """True-peak ceiling, dBTP."""

    format: AudioFormat = AudioFormat.MP3
    """The output format."""

    bitrate: int = DEFAULT_BITRATE
    """Kilobits per second, for lossy formats."""

    lead_in: float = DEFAULT_LEAD_IN
    """Seconds of room tone before the first word."""

    tail: float = DEFAULT_TAIL
    """Seconds of room tone after the last word."""

    fade: float = DEFAULT_FADE
    """Fade length at each clip edge, seconds."""

    room_tone_db: float | None = DEFAULT_ROOM_TONE_DB
    """Noise floor under the narration in dBFS RMS, or None for digital silence."""

    tags: dict[str, str] = field(default_factory=dict)
    """Metadata tags for the output file (title, artist, album, ...)."""

    cover: bytes | None = field(default=None, repr=False)
    """A cover image (JPEG or PNG) to embed: MP4 ``covr``, ID3 ``APIC``, a FLAC or Vorbis
    comment picture."""

    def __post_init__(self) -> None:
        for name in ("sentence_pause", "paragraph_pause", "heading_pause", "scene_pause",
                     "lead_in", "tail"):  # fmt: skip
            _check_number(name.replace("_", "-"), getattr(self, name), 0.0, MAX_PAUSE, " seconds")
        _check_number("fade", self.fade, 0.0, MAX_FADE, " seconds")
        _check_number("loudness", self.loudness, *LOUDNESS_RANGE, " LUFS")
        _check_number("true peak ceiling", self.true_peak, *TRUE_PEAK_RANGE, " dBTP")
        if self.loudness > self.true_peak:
            raise OptionError(
                f"loudness {self.loudness:g} LUFS cannot be above the true-peak "
                f"ceiling {self.true_peak:g} dBTP"
            )
        if self.room_tone_db is not None:
            _check_number("room tone", self.room_tone_db, *ROOM_TONE_RANGE, " dBFS")
        if not isinstance(self.format, AudioFormat):
            if not isinstance(self.format, str):
                raise OptionError(f"format must be an AudioFormat or a name such as 'mp3', "
                                  f"not {self.format!r}")  # fmt: skip
            object.__setattr__(self, "format", AudioFormat.parse(self.format))
        check_bitrate(self.format, self.bitrate)
        if not isinstance(self.tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.tags.items()
        ):
            raise OptionError(f"tags must be a dict of strings to strings, not {self.tags!r}")
        if self.cover is not None and (
            not isinstance(self.cover, bytes) or cover_type(self.cover) is None
        ):
            raise OptionError("the cover must be the bytes of a JPEG or PNG image")

    def pause_after(self, boundary: Boundary) -> float:
        """Seconds of silence after a segment that ends at *boundary*."""
        if boundary is Boundary.SENTENCE:
            return self.sentence_pause
        if boundary is Boundary.PARAGRAPH:
            return self.paragraph_pause
        if boundary is Boundary.HEADING:
            return max(self.heading_pause, self.paragraph_pause)
        if boundary is Boundary.SCENE:
            return max(self.scene_pause, self.paragraph_pause)
        return 0.0

    def with_options(self, **changes: Any) -> Rendering:
        """A copy with *changes* applied; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _check_number(name: str, value: object, low: float, high: float, unit: str) -> None:
    """Raise :class:`OptionError` unless *value* is a finite number from *low* to *high*."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise OptionError(f"{name} must be a number, not {value!r}")
    if not low <= value <= high:  # also refuses NaN
        raise OptionError(f"{name} must be between {low:g} and {high:g}{unit}, not {value:g}")


def check_bitrate(fmt: AudioFormat, bitrate: object) -> None:
    """Raise :class:`OptionError` unless *fmt*'s encoder makes *bitrate* (kbit/s) as asked:
    an MP3 bitrate of MPEG-1 layer III, or one in the format's :data:`BITRATE_RANGES`.
    Lossless formats ignore the bitrate."""
    if not isinstance(bitrate, int) or isinstance(bitrate, bool):
        raise OptionError(f"bitrate must be a whole number of kbit/s, not {bitrate!r}")
    if fmt is AudioFormat.MP3:
        if bitrate not in MP3_BITRATES:
            below = [b for b in MP3_BITRATES if b < bitrate]
            above = [b for b in MP3_BITRATES if b > bitrate]
            nearest = " and ".join(str(b) for b in (below[-1:] + above[:1]))
            raise OptionError(
                f"MP3 has no bitrate of {bitrate} kbit/s; the nearest "
                f"{'are' if below and above else 'is'} {nearest} "
                f"(all: {', '.join(map(str, MP3_BITRATES))})"
            )
    elif fmt.lossy:
        low, high = BITRATE_RANGES[fmt.value]
        if not low <= bitrate <= high:
            raise OptionError(f"{fmt.value} bitrate must be between {low} and {high} kbit/s, "
                              f"not {bitrate}")  # fmt: skip


MAX_BITRATE_DIGITS = 6
"""Digits of a bitrate narrator reads; any more cannot be a bitrate."""


def parse_bitrate(value: str | int) -> int:
    """``"128k"``, ``"128"`` or ``128`` -> 128 (kbit/s)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    digits = rf"\d{{1,{MAX_BITRATE_DIGITS}}}"
    match = re.fullmatch(rf"\s*0*({digits})\s*(k|kbps|kb/s|kbit/s)?\s*", str(value).lower())
    if not match:
        shown = value if len(str(value)) <= 20 else f"{str(value)[:20]}..."
        raise OptionError(f"bitrate {shown!r} is not a number of kbit/s such as 96k")
    return int(match.group(1))


def cover_type(data: bytes) -> str | None:
    """The media type of a cover image narrator can embed (``image/jpeg``, ``image/png``),
    told from its first bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
