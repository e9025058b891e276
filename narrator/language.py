"""The language of a text, and the voice that speaks it.

Detection uses lingua (PyPI ``lingua-language-detector``, Apache-2.0), an
optional dependency (the ``detect`` extra: its wheel is 96 MB, more than the rest
of a Piper install).  Only the languages narrator's voices speak are loaded
(:data:`SPOKEN_LANGUAGES`), in lingua's low-accuracy mode (trigrams only), which
keeps its memory at tens of MB; a narration is long enough for that mode.
Without lingua, narration works as before: no warning, and ``--voice auto`` is
one error that says how to install it.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from . import DISTRIBUTION
from .errors import EngineError, VoiceError
from .text.sentences import base_language
from .voices import DEFAULT_VOICE, Voice, list_voices

logger = logging.getLogger(__name__)

AUTO_VOICE = "auto"
"""The voice name that asks narrator to pick a voice for the text's language."""

SPOKEN_LANGUAGES = (
    "en", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "ru", "tr", "hu", "ar", "zh", "ja",
    "ko", "hi",
)  # fmt: skip
"""The languages detection chooses among (ISO 639-1): those XTTS, Kokoro and the shipped
presets speak.  A text in another language is reported as the nearest of these, or as
unknown."""

SAMPLE_CHARS = 5000
"""How much of the text (from its start) detection reads: enough for a clear answer,
little enough to take milliseconds."""

MIN_LETTERS = 20
"""Fewer letters than this and the language is not guessed (``None``)."""

MIN_RELATIVE_DISTANCE = 0.1
"""lingua's margin between the best and the second language below which it answers
``None`` rather than guess (0 to 0.99)."""

AUTO_PREFERENCE = (
    "heart", "joe", "kore", "fenrir", "emma", "fable", "thorsten-de", "thorsten-vits-de",
    "kerstin-de", "xtts-de", "ljspeech-vits", "vctk-p225", "vctk-p230", "vctk-p245", "xtts-en",
)  # fmt: skip
"""The order in which ``--voice auto`` prefers shipped presets that speak the text's
language, best first: for each language, the quality order of ``narrator voices``'s notes,
cheap voices before XTTS (slow on a CPU and non-commercial).  Presets not named here
(the user's own) come after, by name; the default voice comes first whenever it fits."""

DETECT_INSTALL_HINT = f'install it with: pip install "{DISTRIBUTION}[detect]"'


@cache
def _detector() -> Any:
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:
        raise EngineError(
            f"language detection needs the lingua-language-detector package; {DETECT_INSTALL_HINT}"
        ) from None
    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                 for code in SPOKEN_LANGUAGES]  # fmt: skip
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_minimum_relative_distance(MIN_RELATIVE_DISTANCE)
        .with_low_accuracy_mode()
        .build()
    )


def detection_available() -> bool:
    """Whether lingua is installed, so that :func:`detect_language` can work."""
    from importlib.util import find_spec

    return find_spec("lingua") is not None


def detect_language(text: str) -> str | None:
    """The language *text* is written in, as an ISO 639-1 code (``"de"``), or ``None`` when
    it is too short or unclear.  Raises :class:`EngineError` when lingua is not installed."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    sample = text[:SAMPLE_CHARS]
    if sum(c.isalpha() for c in sample) < MIN_LETTERS:
        return None
    found = _detector().detect_language_of(sample)
    return None if found is None else str(found.iso_code_639_1.name).lower()


def language_name(code: str) -> str:
    """``"de"`` -> ``"German"`` (the code itself where lingua does not know it)."""
    try:
        from lingua import IsoCode639_1, Language

        return str(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name).title()
    except (ImportError, AttributeError, ValueError):
        return code


def voices_for(language: str, *, on_disk: bool = True) -> list[Voice]:
    """The presets that speak *language* (a code such as ``de`` or ``de_DE``: its base
    language is compared), best first (see :data:`AUTO_PREFERENCE`); with *on_disk*, only
    those whose model is on disk."""
    from .engines import ON_DISK, model_status

    wanted = base_language(language)
    found = [v for v in list_voices(broken=[]) if base_language(v.language) == wanted]
    if on_disk:
        found = [v for v in found if model_status(v) in ON_DISK]
    rank = {name: n for n, name in enumerate(AUTO_PREFERENCE)}
    return sorted(
        found, key=lambda v: (v.name != DEFAULT_VOICE, rank.get(v.name, len(rank)), v.name)
    )


def best_voice(language: str) -> Voice:
    """The best installed voice for *language* (the first of :func:`voices_for`); raises
    :class:`VoiceError` naming a preset to download when none is on disk."""
    installed = voices_for(language)
    if installed:
        return installed[0]
    code = base_language(language)
    name = language_name(code)
    any_preset = voices_for(code, on_disk=False)
    if any_preset:
        raise VoiceError(
            f"no voice for {name} ({code}) is on disk; download one with: "
            f"narrator voices download {any_preset[0].name}"
        )
    raise VoiceError(f"no voice preset speaks {name} ({code}); see: narrator voices")


def auto_voice(text: str, language: str | None = None) -> Voice:
    """The voice ``--voice auto`` picks for *text*: :func:`best_voice` for its language (the
    one it declares, *language*, as a book does, else the one detected), or the default
    voice (with a warning) when the language cannot be told."""
    if language:
        voice = best_voice(language)
        logger.info("the book is in %s: using the voice %s", language, voice.name)
        return voice
    code = detect_language(text)
    if code is None:
        logger.warning("cannot tell the text's language; using the voice %s", DEFAULT_VOICE)
        from .voices import load_voice

        return load_voice(DEFAULT_VOICE)
    voice = best_voice(code)
    logger.info("the text is %s: using the voice %s", language_name(code), voice.name)
    return voice


def language_mismatch(text: str, voice: Voice, *, language: str | None = None) -> str | None:
    """One line saying that *text* is not in *voice*'s language, naming a preset that fits;
    ``None`` when they agree, when the language is unclear, or without lingua.

    *language* is the language the text declares (a book's ``dc:language``): it is
    taken as it is, without detection."""
    if language:
        code = base_language(language)
        if code == base_language(voice.language):
            return None
        name = language_name(code)
        message = (f"the book is in {name} ({language}) but the voice {voice.name} speaks "
                   f"{voice.language}")  # fmt: skip
        return _fitting_voice(message, code, name)
    if not detection_available():
        return None
    detected = detect_language(text)
    if detected is None or detected == base_language(voice.language):
        return None
    code = detected
    name = language_name(code)
    message = f"the text looks {name} ({code}) but the voice {voice.name} speaks {voice.language}"
    return _fitting_voice(message, code, name)


def _fitting_voice(message: str, code: str, name: str) -> str:
    """*message*, and the voice to use for *code* instead (or how to get one)."""
    installed = voices_for(code)
    if installed:
        return f"{message}; for {name}, use --voice {installed[0].name}"
    presets = voices_for(code, on_disk=False)
    if presets:
        return (f"{message}; for {name}, download a voice with: "
                f"narrator voices download {presets[0].name}")  # fmt: skip
    return f"{message}; no voice preset speaks {name}"


def text_language(voice_language: str, book_language: str | None) -> str:
    """The language the text is split and normalized in: the book's own when it declares
    one the voice does not speak, else the voice's (``en_US`` is more precise than ``en``)."""
    if book_language and base_language(book_language) != base_language(voice_language):
        return book_language.replace("-", "_")
    return voice_language
