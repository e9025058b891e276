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

    def __post_init__(self) -> None:
        for name in ("sentence_pause", "paragraph_pause", "heading_pause", "scene_pause",
                     "lead_in", "tail"):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value <= MAX_PAUSE:
                raise OptionError(
                    f"{name.replace('_', '-')} must be between 0 and {MAX_PAUSE:g} "
                    f"seconds, not {value:g}"
                )
        if not 0.0 <= self.fade <= 0.1:
            raise OptionError(f"fade must be between 0 and 0.1 seconds, not {self.fade:g}")
        if not -50.0 <= self.loudness <= -5.0:
            raise OptionError(f"loudness must be between -50 and -5 LUFS, not {self.loudness:g}")
        if not -20.0 <= self.true_peak <= 0.0:
            raise OptionError(
                f"true peak ceiling must be between -20 and 0 dBTP, not {self.true_peak:g}"
            )
        if self.loudness > self.true_peak:
            raise OptionError(
                f"loudness {self.loudness:g} LUFS cannot be above the true-peak "
                f"ceiling {self.true_peak:g} dBTP"
            )
        if not 8 <= self.bitrate <= 320:
            raise OptionError(f"bitrate must be between 8 and 320 kbit/s, not {self.bitrate}")
        if not isinstance(self.format, AudioFormat):
            object.__setattr__(self, "format", AudioFormat.parse(str(self.format)))

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


def parse_bitrate(value: str | int) -> int:
    """``"128k"``, ``"128"`` or ``128`` -> 128 (kbit/s)."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*(k|kbps|kb/s|kbit/s)?\s*", value.lower())
    if not match:
        raise OptionError(f"bitrate {value!r} is not a number of kbit/s such as 96k")
    return int(match.group(1))
