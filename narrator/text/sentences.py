"""Sentence splitting with NLTK Punkt, offline.

When NLTK's ``punkt_tab`` data is installed for the language it is used, with
narrator's own abbreviation list added to it.  Otherwise narrator builds Punkt
parameters from the list it ships (``narrator/data/punkt-<lang>.json``), so
splitting never needs a download.  A language with neither falls back to the
English list: Punkt's algorithm is language-neutral, only the abbreviations
differ.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from importlib import resources

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTokenizer

logger = logging.getLogger(__name__)

PUNKT_LANGUAGES = {
    "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "et": "estonian", "fi": "finnish", "fr": "french", "it": "italian",
    "ml": "malayalam", "nb": "norwegian", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ru": "russian", "sl": "slovene", "sv": "swedish", "tr": "turkish",
}  # fmt: skip
"""ISO 639-1 code -> the name of NLTK's Punkt model for that language."""

_FALLBACK_LANGUAGE = "en"

# A sentence that starts with a lower-case letter (after any opening quotes or
# brackets) continues the one before it: '"Is it done?" she asked.'
_CONTINUATION = re.compile(r"""^[\s"'“‘«(\[]*[a-z]""")
_LAST_WORD = re.compile(r"([\w.]+)\.\W*$")


class SentenceSplitter:
    """Splits a paragraph into sentences for one language."""

    def __init__(self, language: str = "en") -> None:
        code = base_language(language)
        self.language = code
        data = _shipped_parameters(code) or _shipped_parameters(_FALLBACK_LANGUAGE) or {}
        self._non_terminal = frozenset(data.get("non_terminal", ()))
        self._tokenizer = _real_punkt(code)
        if self._tokenizer is None:
            params = PunktParameters()
            self._tokenizer = PunktSentenceTokenizer(params)
            logger.debug("punkt_tab data for %r not installed: using narrator's parameters", code)
        params = self._tokenizer._params
        params.abbrev_types.update(data.get("abbrev_types", ()))
        params.sent_starters.update(data.get("sent_starters", ()))

    def split(self, paragraph: str) -> list[str]:
        """The sentences of *paragraph*, each stripped, in order, losing no text."""
        spans = list(self._tokenizer.span_tokenize(paragraph))
        sentences: list[str] = []
        for start, end in spans:
            piece = paragraph[start:end].strip()
            if not piece:
                continue
            if sentences and self._continues(sentences[-1], piece):
                sentences[-1] = f"{sentences[-1]} {piece}"
            else:
                sentences.append(piece)
        return sentences

    def _continues(self, previous: str, piece: str) -> bool:
        if _CONTINUATION.match(piece):
            return True
        match = _LAST_WORD.search(previous)
        return bool(match) and match.group(1).lower() in self._non_terminal


def base_language(language: str) -> str:
    """``"en_US"`` / ``"en-GB"`` / ``"EN"`` -> ``"en"``."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or _FALLBACK_LANGUAGE


@lru_cache(maxsize=None)
def splitter_for(language: str) -> SentenceSplitter:
    """A cached :class:`SentenceSplitter` for *language*."""
    return SentenceSplitter(language)


@lru_cache(maxsize=None)
def _shipped_parameters(code: str) -> dict[str, list[str]] | None:
    try:
        raw = resources.files("narrator").joinpath(f"data/punkt-{code}.json").read_text("utf-8")
    except FileNotFoundError:
        return None
    data: dict[str, list[str]] = json.loads(raw)
    return data


def _real_punkt(code: str) -> PunktSentenceTokenizer | None:
    name = PUNKT_LANGUAGES.get(code)
    if name is None:
        return None
    try:
        return PunktTokenizer(name)
    except (LookupError, ValueError, OSError):
        return None
