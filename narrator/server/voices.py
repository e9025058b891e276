"""Which voice a request names: a preset from the preset registry, or one of OpenAI's voice
names mapped to a preset, never a path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engines import ON_DISK, UNKNOWN, model_status
from ..errors import VoiceError
from ..voices import DEFAULT_VOICE, Voice, load_preset, preset_paths

OPENAI_VOICES: dict[str, tuple[str, str]] = {
    "alloy": ("heart", "heart"),
    "ash": ("fenrir", "joe"),
    "ballad": ("fable", "joe"),
    "coral": ("kore", "heart"),
    "echo": ("joe", "joe"),
    "fable": ("fable", "joe"),
    "nova": ("heart", "heart"),
    "onyx": ("fenrir", "joe"),
    "sage": ("emma", "heart"),
    "shimmer": ("kore", "heart"),
    "verse": ("fenrir", "joe"),
}
"""OpenAI's voice names -> (the preset they stand for, the one used while that preset's
model is not on disk): female voices fall back to ``heart``, male ones to ``joe``, both
shipped with narrator.  A preset of the same name whose model is on disk wins (a user's
``alloy.toml``, or the shipped ``fable``)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*$")
"""What a preset name looks like: no path separator, no ``..``, no leading dot."""

MAX_NAME = 100
"""The longest voice name a request may give."""


class VoiceRequestError(VoiceError):
    """A request's voice is not a preset it may use; :attr:`code` says why, in OpenAI's
    manner."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Choice:
    """A voice a request may use."""

    name: str
    """The preset's name."""

    voice: Voice


def usable(voice: Voice) -> bool:
    """Whether *voice*'s model is on disk (or its engine cannot tell): a request never
    starts a download."""
    return model_status(voice) in (*ON_DISK, UNKNOWN)


def check_name(name: object) -> str:
    """*name* if it can be a preset name; :class:`VoiceRequestError` for a path or anything
    else."""
    if not isinstance(name, str) or not name:
        raise VoiceRequestError("voice must be the name of a voice preset", "invalid_voice")
    if "/" in name or "\\" in name or ".." in name or name.startswith((".", "~")):
        raise VoiceRequestError(f"voice must be a preset name, not a path: {name[:MAX_NAME]!r}",
                                "invalid_voice")  # fmt: skip
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise VoiceRequestError(f"{name[:MAX_NAME]!r} is not a voice preset name",
                                "invalid_voice")  # fmt: skip
    return name


def resolve(name: object) -> Choice:
    """The preset a request's *name* stands for (None: the default voice).

    Only names of the preset registry (:func:`narrator.voices.preset_paths`) and of
    :data:`OPENAI_VOICES` are accepted; the preset file is the registry's, so nothing a
    request says reaches the file system."""
    wanted = DEFAULT_VOICE if name is None else check_name(name)
    paths = preset_paths()
    if wanted in paths:
        voice = load_preset(paths[wanted])
        if usable(voice) or wanted not in OPENAI_VOICES:
            if not usable(voice):
                raise VoiceRequestError(
                    f"voice {wanted!r} is not downloaded; run `narrator voices download "
                    f"{wanted}` on the server", "voice_not_installed",
                )  # fmt: skip
            return Choice(wanted, voice)
    if wanted in OPENAI_VOICES:
        for candidate in OPENAI_VOICES[wanted]:
            if candidate in paths:
                voice = load_preset(paths[candidate])
                if usable(voice):
                    return Choice(candidate, voice)
        raise VoiceRequestError(f"no preset for OpenAI's voice {wanted!r} is installed",
                                "voice_not_installed")  # fmt: skip
    known = ", ".join(paths) or "none"
    raise VoiceRequestError(f"unknown voice {wanted!r}; known voices: {known}",
                            "voice_not_found")  # fmt: skip
