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
from functools import cache
from importlib import resources

from .punkt import PunktParameters, PunktSentenceTokenizer, installed_model

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
# brackets) continues the one before it: '"Is it done?" she asked.'  So does a
# piece with no letters or digits at all: the "!" of "Really?!" at the very end.
_CONTINUATION = re.compile(r"""^[\s"'“‘«(\[]*[a-z]""")
_SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_FOOTNOTE_MARKS = re.compile(r"(?<=[.!?…\"'”’)])[⁰¹²³⁴⁵⁶⁷⁸⁹]+(?=\s|$)")
_LAST_WORD = re.compile(r"([\w.]+)\.\W*$")
_WORD_BEFORE = re.compile(r"(\w+)\s+$")

# Two ends of sentences that Punkt misses without trained orthographic data;
# each pattern ends where the next sentence begins.  First, an ellipsis ("..."
# or "…") and any closing quotes before a capital: '"Wait..." She turned.'
# Punkt breaks there only before a frequent sentence starter, and never after "…".
_ELLIPSIS_END = re.compile(r"""(?:\.{3,}|…)["'”’»)\]]*\s+(?=["'“‘«(\[]*(\w))""")
# Second, a lone capital and its period before a frequent sentence starter that
# is not itself an initial: 'We chose plan B. Then we left.'  Punkt reads every
# such capital as an initial, as in "J. Bach".
_INITIAL_END = re.compile(r"""(?<![\w.])([^\W\d_])\.["'”’»)\]]*\s+(?=["'“‘«(\[]*(\w+)(\.?))""")


# Third, the ends of sentences in scripts written without spaces (Chinese, Japanese): an
# ideographic full stop or a full-width "！" or "？" (or a "!" or "?" right before a Chinese
# or Japanese character), with any closing brackets or quotes, ends a sentence wherever it
# stands, except before the Japanese quoting particle と (「行く。」と言った).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_CJK_END = re.compile(
    rf"(?:[。｡！？]+|[.!?]+(?=[{_CJK}「『（]))[」』）)〉》】\"”’]*(?!\s*[と」』）)〉》】\"”’])"
)


_BEFORE_A_NUMBER = frozenset({"art", "arts", "eq", "eqs", "n", "nn", "no", "nos", "op", "ep"})
"""Abbreviations that end no sentence when a number follows them ("Eq. (2)", "n. 4")."""
_NUMBER_START = re.compile(r"[(\[]?\d")


class SentenceSplitter:
    """Splits a paragraph into sentences for one language."""

    def __init__(self, language: str = "en") -> None:
        code = base_language(language)
        self.language = code
        data = _shipped_parameters(code) or _shipped_parameters(_FALLBACK_LANGUAGE) or {}
        self._non_terminal = frozenset(data.get("non_terminal", ()))
        self._ordinal_after = frozenset(data.get("ordinal_after", ()))
        tokenizer = _real_punkt(code)
        if tokenizer is None:
            tokenizer = PunktSentenceTokenizer(PunktParameters())
            logger.debug("punkt_tab data for %r not installed: using narrator's parameters", code)
        self._tokenizer = tokenizer
        params = tokenizer._params
        params.abbrev_types.update(data.get("abbrev_types", ()))
        params.sent_starters.update(data.get("sent_starters", ()))
        self._sent_starters = params.sent_starters

    def split(self, paragraph: str) -> list[str]:
        """The sentences of *paragraph*, each stripped, in order, losing no text."""
        return [paragraph[first:last] for first, last in self.spans(paragraph)]

    def spans(self, paragraph: str) -> list[tuple[int, int]]:
        """Where the sentences of *paragraph* lie: ``(start, end)``, without outer white space.

        Everything between two spans is white space.  Footnote marks after a
        sentence's end ("bold.¹ Critics") stay with the sentence they follow.
        """
        original = paragraph
        if _FOOTNOTE_MARKS.search(paragraph):  # hide them from Punkt, keeping every offset
            paragraph = _FOOTNOTE_MARKS.sub(lambda m: " " * len(m.group(0)), paragraph)
        spans: list[list[int]] = []
        for start, end in self._tokenizer.span_tokenize(paragraph):
            for first, last in self._missed_ends(paragraph, start, end):
                piece = paragraph[first:last].strip()
                if not piece:
                    continue
                if spans and self._continues(paragraph[slice(*spans[-1])], piece):
                    spans[-1][1] = last
                else:
                    spans.append([first, last])
        result = []
        for first, last in spans:
            text = paragraph[first:last]
            lead = len(text) - len(text.lstrip())
            end = first + len(text.rstrip())
            while end < len(original) and original[end] in _SUPERSCRIPT_DIGITS:
                end += 1
            result.append((first + lead, end))
        return result

    def _missed_ends(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """``text[start:end]`` as spans, cut where Punkt missed the end of a sentence."""
        sentence = text[start:end]
        cuts = {m.end() for m in _ELLIPSIS_END.finditer(sentence) if m.group(1).isupper()}
        cuts.update(m.end() for m in _CJK_END.finditer(sentence))
        cuts.update(
            m.end()
            for m in _INITIAL_END.finditer(sentence)
            if m.group(1).isupper()
            and m.group(2)[0].isupper()
            and m.group(2).lower() in self._sent_starters
            and not (len(m.group(2)) == 1 and m.group(3))
        )
        bounds = [start, *(start + cut for cut in sorted(cuts)), end]
        return list(zip(bounds, bounds[1:], strict=False))

    def _continues(self, previous: str, piece: str) -> bool:
        if _CONTINUATION.match(piece) or not any(c.isalnum() for c in piece):
            return True
        match = _LAST_WORD.search(previous)
        if match is None:
            return False
        word = match.group(1).lower()
        if word.isdigit() and self._ordinal_after:
            # German writes ordinals as "3.": "am 3. Mai" is one sentence, "Er war 30." is not.
            before = _WORD_BEFORE.search(previous, 0, match.start(1))
            return before is not None and before.group(1).lower() in self._ordinal_after
        if word in _BEFORE_A_NUMBER and _NUMBER_START.match(piece):
            return True  # "see Eq. (2)", "Art. 5", "n. 4"
        return word in self._non_terminal


def base_language(language: str) -> str:
    """``"en_US"`` / ``"en-GB"`` / ``"EN"`` -> ``"en"``."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or _FALLBACK_LANGUAGE


@cache
def splitter_for(language: str) -> SentenceSplitter:
    """A cached :class:`SentenceSplitter` for *language*."""
    return SentenceSplitter(language)


@cache
def _shipped_parameters(code: str) -> dict[str, list[str]] | None:
    try:
        raw = resources.files("narrator").joinpath(f"data/punkt-{code}.json").read_text("utf-8")
    except FileNotFoundError:
        return None
    data: dict[str, list[str]] = json.loads(raw)
    return data


def _real_punkt(code: str) -> PunktSentenceTokenizer | None:
    name = PUNKT_LANGUAGES.get(code)
    return None if name is None else installed_model(name)
