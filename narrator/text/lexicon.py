"""Pronunciation lexicons: the user's own respellings, applied before normalization.

A lexicon is a TOML file with up to two tables::

    # names.toml
    [words]
    nguyen = "win"          # a lower-case key matches any case: Nguyen -> Win, NGUYEN -> WIN
    Reading = "Redding"     # a key with a capital matches that exact spelling only
    "C++" = "C plus plus"
    SQL = "sequel"

    [patterns]              # regular expressions (Python syntax), tried in file order
    '\\bDr\\.(?= [A-Z])' = "Doctor"
    '(\\d+)x(\\d+)' = '\\1 by \\2'

* ``[words]`` keys match whole words only (not inside a longer word).  A key
  written all in lower case matches the word in any case, and the replacement
  follows the case of what it replaced: Title Case gets its first letter
  capitalised, an ALL CAPS word gets the replacement in capitals.  A key with
  any capital letter matches exactly.  The longest key wins where keys overlap.
* ``[patterns]`` keys are regular expressions, applied one after the other
  after the words; the value is a replacement template (``\\1`` for a group).
* Lexicons apply after Unicode clean-up and before everything else in
  normalization, so a respelling can override how narrator would read
  numbers, abbreviations or symbols ("Dr." -> "Drive" in your street names).
  What a lexicon produces is then normalized like any other text (digits in a
  replacement are read as numbers).
* A replacement may be empty, to leave a word out; the audit reports it.

A voice preset may name a lexicon (``lexicon = "names.toml"``, relative to the
preset); ``--lexicon FILE`` adds the user's, whose entries win.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..tomlfile import read_toml
from .mapped import Mapped

TABLES = ("words", "patterns")
"""The tables a lexicon file may hold."""


class LexiconError(OptionError):
    """A lexicon file is missing, unreadable or malformed."""


class Lexicon:
    """Respellings: whole words (case-aware) and regular expressions."""

    def __init__(
        self, words: Mapping[str, str] | None = None, patterns: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.words: dict[str, str] = dict(words or {})
        """Word -> replacement; lower-case keys match any case."""
        self.patterns: tuple[tuple[str, str], ...] = tuple(patterns)
        """(regular expression, replacement template), in order."""
        self._compiled = []
        for pattern, replacement in self.patterns:
            try:
                self._compiled.append((re.compile(pattern), replacement))
            except re.error as exc:
                raise LexiconError(f"lexicon pattern {pattern!r} is not a valid regular "
                                   f"expression ({exc})") from None  # fmt: skip
        self._word_re = _word_pattern(self.words)
        self._folded = {k: v for k, v in self.words.items() if k == k.lower()}

    def __repr__(self) -> str:
        return f"Lexicon({len(self.words)} words, {len(self.patterns)} patterns)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lexicon):
            return NotImplemented
        return (self.words, self.patterns) == (other.words, other.patterns)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self.words or self.patterns)

    def apply(self, text: Mapped) -> Mapped:
        """*text* with every word and pattern replaced."""
        if self._word_re is not None:
            text = text.sub(self._word_re, self._replace_word)
        for pattern, replacement in self._compiled:
            text = text.sub(pattern, _template(replacement))
        return text

    def apply_to(self, text: str) -> str:
        """:meth:`apply` for a plain string."""
        return self.apply(Mapped.of(text)).text

    def _replace_word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        if word in self.words:
            return self.words[word]
        return follow_case(word, self._folded[word.lower()])

    def merged(self, other: Lexicon | None) -> Lexicon:
        """This lexicon with *other*'s entries added; this one's win where both have a key."""
        if not other:
            return self
        return Lexicon({**other.words, **self.words}, self.patterns + other.patterns)


def follow_case(word: str, replacement: str) -> str:
    """*replacement* in the case pattern of *word*: ALL CAPS, Title Case or as written."""
    letters = [c for c in word if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if letters and letters[0].isupper():
        for index, char in enumerate(replacement):
            if char.isalpha():
                return replacement[:index] + char.upper() + replacement[index + 1 :]
    return replacement


def _template(replacement: str) -> Any:
    return lambda match: match.expand(replacement)


def _word_pattern(words: Mapping[str, str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = []
    # Longest first; an exact key before a case-insensitive one of the same length.
    for key in sorted(words, key=lambda k: (-len(k), k == k.lower(), k)):
        escaped = re.escape(key)
        alternatives.append(f"(?i:{escaped})" if key == key.lower() else escaped)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def parse_lexicon(data: Mapping[str, Any], where: str = "lexicon") -> Lexicon:
    """Validate a lexicon's tables (as read from TOML) and build the :class:`Lexicon`."""
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise LexiconError(f"{where}: unknown table{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(unknown)} (allowed: {', '.join(TABLES)})")  # fmt: skip
    tables: dict[str, dict[str, str]] = {}
    for name in TABLES:
        table = data.get(name, {})
        if not isinstance(table, Mapping):
            raise LexiconError(f'{where}: [{name}] must be a table of "key" = "replacement"')
        for key, value in table.items():
            if not key:
                raise LexiconError(f"{where}: [{name}] has an empty key")
            if not isinstance(value, str):
                raise LexiconError(f"{where}: [{name}] {key!r} must map to a string, "
                                   f"not {value!r}")  # fmt: skip
        tables[name] = dict(table)
    try:
        return Lexicon(tables["words"], tuple(tables["patterns"].items()))
    except LexiconError as exc:
        raise LexiconError(f"{where}: {exc}") from None


def load_lexicon(path: str | Path) -> Lexicon:
    """Read a lexicon TOML file."""
    path = Path(path).expanduser()
    data = read_toml(path, LexiconError, missing="no such lexicon file",
                     unreadable="cannot read the lexicon")  # fmt: skip
    return parse_lexicon(data, str(path))


def combine(lexicons: Iterable[Lexicon | str | Path | None]) -> Lexicon | None:
    """One lexicon from several (files or lexicons); earlier ones win where keys clash."""
    result: Lexicon | None = None
    for item in lexicons:
        if item is None:
            continue
        lexicon = item if isinstance(item, Lexicon) else load_lexicon(item)
        result = lexicon if result is None else result.merged(lexicon)
    return result
