"""Voice presets: small TOML files that say who speaks.

A preset names an engine, a model and a language; the engine decides how to
find the model.  Presets ship in ``voices/`` inside the package; a user's own
live in ``$NARRATOR_VOICES_DIR`` or, by default, the ``voices`` folder of
narrator's application directory (``click.get_app_dir("narrator")``).  A user
preset with the name of a shipped one replaces it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from .errors import VoiceError
from .tomlfile import read_toml

DEFAULT_VOICE = "heart"
"""The preset used when none is named: hibari's heart, which ships with hibari-tts.  On three
texts it never saw (docs/benchmarks.md, "Voices") Whisper misheard 1.1 % of its words against
4.8 % for Piper's joe, DNSMOS OVRL 3.37 against 3.24, with 4.6 times less CPU time per
second of audio; joe stays a shipped preset."""

VOICES_DIR_ENV = "NARRATOR_VOICES_DIR"
"""Environment variable naming the folder of the user's presets."""

PRESET_SUFFIX = ".toml"

MIN_SPEED, MAX_SPEED = 0.25, 4.0

MAX_SEED = 2**32 - 1
"""The largest :attr:`Voice.seed` (seeds are unsigned 32-bit numbers)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Voice:
    """Who speaks: an engine, a model, and the choices the model offers."""

    name: str
    """The preset's name, shown in listings and written as the artist tag."""

    engine: str
    """The engine plugin that runs the model (``piper``, ``coqui``, ...)."""

    model: str
    """The model: a name the engine knows, or a path (relative to the preset file)."""

    language: str
    """The language the model speaks, as a code such as ``en_US``."""

    description: str
    """One line for listings."""

    speaker: str | None = None
    """The speaker, for models with several."""

    speed: float = 1.0
    """Speaking rate: 1.0 is the model's own, 1.2 is 20% faster."""

    speaker_wav: tuple[str, ...] = ()
    """Reference recordings of the voice to clone (XTTS), as paths relative to the preset file."""

    seed: int | None = None
    """Seed for the model's random sampling: the same seed gives the same audio. None varies."""

    lexicon: str | None = None
    """A pronunciation lexicon (TOML) for this voice, as a path relative to the preset file."""

    options: dict[str, Any] = field(default_factory=dict)
    """Engine-specific settings, checked by the engine (the ``[options]`` table)."""

    license: str | None = None
    """The licence of the model (an SPDX name where there is one), written into the output
    file's tags and shown by ``narrator voices``."""

    credit: str | None = None
    """The credit line the model's licence asks for (who made the voice and its data),
    written into the output file's tags."""

    notes: str | None = None
    """Quality notes for listings: how it sounds, how fast it is, what it needs."""

    size_mb: float | None = None
    """The model's approximate download size in MB, shown while it is not on disk."""

    path: Path | None = None
    """The preset file this voice came from, if any."""

    license_accepted: bool = False
    """Whether the user accepted the model's licence where it must be accepted before use
    (Coqui XTTS: ``--accept-coqui-license``); it changes no sound."""

    def __post_init__(self) -> None:
        for name in ("name", "engine", "model", "language", "description"):
            value = getattr(self, name)
            if not isinstance(value, str) or not (value.strip() or name == "description"):
                raise VoiceError(f"{name} must be a non-empty string, not {value!r}")
        for name in _TEXT_KEYS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise VoiceError(f"{name} must be a string, not {value!r}")
        size = self.size_mb
        if size is not None and (
            not isinstance(size, (int, float)) or isinstance(size, bool) or not size >= 0
        ):
            raise VoiceError(f"size_mb must be a number of megabytes, not {size!r}")
        if isinstance(self.speaker, int) and not isinstance(self.speaker, bool):
            object.__setattr__(self, "speaker", str(self.speaker))
        if self.speaker is not None and not isinstance(self.speaker, str):
            raise VoiceError(f"speaker must be a string, not {self.speaker!r}")
        if not isinstance(self.speed, (int, float)) or isinstance(self.speed, bool):
            raise VoiceError(f"speed must be a number, not {self.speed!r}")
        if not MIN_SPEED <= self.speed <= MAX_SPEED:  # also refuses NaN
            raise VoiceError(
                f"speed must be between {MIN_SPEED} and {MAX_SPEED}, not {self.speed:g}"
            )
        if self.seed is not None and (
            not isinstance(self.seed, int) or isinstance(self.seed, bool)
            or not 0 <= self.seed <= MAX_SEED
        ):  # fmt: skip
            raise VoiceError(f"seed must be a whole number from 0 to {MAX_SEED}, not {self.seed!r}")
        wavs = self.speaker_wav
        if isinstance(wavs, (str, Path)) or not all(isinstance(w, (str, Path)) for w in wavs):
            raise VoiceError(f"speaker_wav must be a sequence of file names, not {wavs!r}")
        object.__setattr__(self, "speaker_wav", tuple(str(w) for w in wavs))
        if isinstance(self.lexicon, Path):
            object.__setattr__(self, "lexicon", str(self.lexicon))
        if self.lexicon is not None and not isinstance(self.lexicon, str):
            raise VoiceError(f"lexicon must be a file name, not {self.lexicon!r}")
        if not isinstance(self.options, dict) or not all(isinstance(k, str) for k in self.options):
            raise VoiceError(f"options must be a dict with string keys, not {self.options!r}")
        if isinstance(self.path, str):
            object.__setattr__(self, "path", Path(self.path))
        if self.path is not None and not isinstance(self.path, Path):
            raise VoiceError(f"path must be a path to the preset file, not {self.path!r}")

    @property
    def base_dir(self) -> Path:
        """The folder that relative model paths are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def local_model(self) -> Path | None:
        """The model as an existing local path, if it is one."""
        candidate = Path(self.model).expanduser()
        if not candidate.is_absolute():
            candidate = self.base_dir / candidate
        return candidate if candidate.exists() else None

    def reference_audio(self) -> tuple[Path, ...]:
        """:attr:`speaker_wav` as paths, relative ones resolved against :attr:`base_dir`."""
        paths = (Path(p).expanduser() for p in self.speaker_wav)
        return tuple(p if p.is_absolute() else self.base_dir / p for p in paths)

    def lexicon_path(self) -> Path | None:
        """:attr:`lexicon` as a path, a relative one resolved against :attr:`base_dir`."""
        if not self.lexicon:
            return None
        path = Path(self.lexicon).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def sound_identity(self) -> dict[str, Any]:
        """Every field that can change how this voice sounds (for the clip cache)."""
        identity = {f.name: getattr(self, f.name) for f in fields(self)}
        unheard = ("name", "description", "path", "lexicon", *_TEXT_KEYS, "size_mb",
                   "license_accepted")  # fmt: skip
        for label in unheard:
            # lexicons change the text; licence, credit, notes and size change no sound
            identity.pop(label)
        model = self.local_model()
        if model is not None and model.is_file():
            stat = model.stat()
            identity["model_file"] = [str(model.resolve()), stat.st_size, stat.st_mtime_ns]
        return identity

    def with_options(
        self,
        *,
        speaker: str | None = None,
        speed: float | None = None,
        speaker_wav: Sequence[str | Path] | None = None,
        seed: int | None = None,
        accept_license: bool = False,
    ) -> Voice:
        """A copy with the given choices changed (``None`` or no files keeps the preset's);
        *accept_license* accepts the model's licence for this voice (see
        :attr:`license_accepted`).

        Relative *speaker_wav* paths are taken from the current directory.
        """
        from dataclasses import replace

        changes: dict[str, Any] = {}
        if speaker is not None:
            changes["speaker"] = speaker
        if speed is not None:
            changes["speed"] = speed
        if speaker_wav:
            wavs = (Path(p).expanduser().absolute() for p in speaker_wav)
            changes["speaker_wav"] = tuple(str(p) for p in wavs)
        if seed is not None:
            changes["seed"] = seed
        if accept_license:
            changes["license_accepted"] = True
        return replace(self, **changes) if changes else self


_REQUIRED = ("name", "engine", "model", "language", "description")
_TEXT_KEYS = ("license", "credit", "notes")
"""Optional preset keys that describe the voice without changing how it sounds."""
_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "engine": (str,), "model": (str,), "language": (str,),
    "description": (str,), "speaker": (str, int), "speed": (int, float), "options": (dict,),
    "speaker_wav": (str, list), "seed": (int,), "lexicon": (str,), "license": (str,),
    "credit": (str,), "notes": (str,), "size_mb": (int, float),
}  # fmt: skip
_TYPE_WORDS: dict[type, str] = {
    str: "string", int: "number", float: "number", dict: "table", list: "list of strings",
}  # fmt: skip
"""How a preset's value types are named in messages (TOML's words, not Python's)."""


def builtin_voices_dir() -> Path:
    """The presets shipped with narrator (inside the wheel, or the source tree's ``voices/``)."""
    packaged = Path(__file__).parent / "voices"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "voices"


def user_voices_dir() -> Path:
    """The folder of the user's own presets."""
    override = os.environ.get(VOICES_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(click.get_app_dir("narrator")) / "voices"


def preset_dirs() -> list[Path]:
    """Preset folders, the user's first."""
    return [user_voices_dir(), builtin_voices_dir()]


def parse_preset(data: dict[str, Any], path: Path | None = None) -> Voice:
    """Validate a preset's table and build the :class:`Voice`."""
    where = f"{path}: " if path else ""
    known = {f.name for f in fields(Voice)} - {"path", "license_accepted"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise VoiceError(
            f"{where}unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(known))})"
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise VoiceError(f"{where}missing key{plural} {', '.join(missing)}")
    for key, value in data.items():
        types = _TYPES[key]
        if not isinstance(value, types) or isinstance(value, bool):
            words = ["whole number"] if types == (int,) else [_TYPE_WORDS[t] for t in types]
            wanted = " or ".join(dict.fromkeys(words))
            raise VoiceError(f"{where}{key} must be a {wanted}, not {value!r}")
    values = dict(data)
    if "speaker" in values:
        values["speaker"] = str(values["speaker"])
    if "speed" in values:
        values["speed"] = float(values["speed"])
    if "size_mb" in values:
        values["size_mb"] = float(values["size_mb"])
    if "speaker_wav" in values:
        wav = values["speaker_wav"]
        wavs = [wav] if isinstance(wav, str) else wav
        if not all(isinstance(w, str) and w for w in wavs):
            raise VoiceError(f"{where}speaker_wav must be a file name or a list of file names, "
                             f"not {wav!r}")  # fmt: skip
        values["speaker_wav"] = tuple(wavs)
    try:
        return Voice(**values, path=path)
    except VoiceError as exc:
        raise VoiceError(f"{where}{exc}") from None


def load_preset(path: Path) -> Voice:
    """Load one preset file."""
    data = read_toml(path, VoiceError, missing="no such voice preset file",
                     unreadable="cannot read it")  # fmt: skip
    return parse_preset(data, path)


def preset_paths() -> dict[str, Path]:
    """Every preset name -> its file; a user preset hides a shipped one of the same name."""
    found: dict[str, Path] = {}
    for directory in reversed(preset_dirs()):
        if directory.is_dir():
            for path in sorted(directory.glob(f"*{PRESET_SUFFIX}")):
                found[path.stem] = path
    return dict(sorted(found.items()))


def list_voices(broken: list[VoiceError] | None = None) -> list[Voice]:
    """All presets, by name.  A broken preset raises :class:`VoiceError` naming its file,
    or, where a *broken* list is given, is added to it and left out."""
    found = []
    for path in preset_paths().values():
        try:
            found.append(load_preset(path))
        except VoiceError as exc:
            if broken is None:
                raise
            broken.append(exc)
    return found


def speaks(voice: Voice, language: str) -> bool:
    """Whether *voice* speaks *language*: ``de`` matches ``de`` and ``de_DE`` (and
    ``de-AT``), ``de_DE`` only ``de_DE``; case and ``-`` or ``_`` do not matter."""
    wanted = language.strip().lower().replace("-", "_")
    spoken = voice.language.strip().lower().replace("-", "_")
    return bool(wanted) and (spoken == wanted or spoken.startswith(wanted + "_"))


def load_voice(voice: str | Path | Voice | None = None) -> Voice:
    """A voice from a preset name, a path to a preset ``.toml`` file, or a :class:`Voice`.

    A name is only ever looked up inside the preset folders.
    """
    if isinstance(voice, Voice):
        return voice
    if voice is None:
        voice = DEFAULT_VOICE
    if isinstance(voice, Path) or str(voice).endswith(PRESET_SUFFIX):
        return load_preset(Path(voice).expanduser())
    name = str(voice)
    paths = preset_paths()
    if _NAME.match(name) and name in paths:
        return load_preset(paths[name])
    known = ", ".join(paths) or "none"
    raise VoiceError(f"unknown voice {name!r}; known voices: {known}")
