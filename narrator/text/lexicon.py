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
* A replacement may be empty, to leave a word out; the audit reports it.  It may not
  hold control characters (NUL and the like), and a pattern's template may only name
  groups its pattern has (``\\3`` needs three groups); both are refused when the
  lexicon loads.
* A pattern gets :data:`PATTERN_TIMEOUT` seconds for each piece of text it is tried
  on; one that takes longer (catastrophic backtracking, such as ``(a+)+$``) stops the
  narration with an error naming it, instead of hanging.

A voice preset may name a lexicon (``lexicon = "names.toml"``, relative to the
preset); ``--lexicon FILE`` adds the user's, whose entries win.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import regex

from ..errors import OptionError
from ..tomlfile import read_toml
from .mapped import Mapped

TABLES = ("words", "patterns")
"""The tables a lexicon file may hold."""

PATTERN_TIMEOUT = 2.0
"""Seconds one ``[patterns]`` expression may take on one piece of text (a sentence, or a
heading) before the narration stops with an error: a simple pattern takes well under a
millisecond on a sentence, a catastrophic one (``(a+)+$``) longer than the universe."""

_ALLOWED_CONTROLS = "\t\n"
"""Control characters a replacement may hold."""


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
        for key, replacement in self.words.items():
            _check_text(replacement, f"the replacement of {key!r}")
        self._compiled: list[tuple[str, regex.Pattern[str], str]] = []
        for pattern, replacement in self.patterns:
            try:
                compiled = regex.compile(pattern)
            except (regex.error, ValueError, OverflowError) as exc:
                raise LexiconError(f"lexicon pattern {pattern!r} is not a valid regular "
                                   f"expression ({exc})") from None  # fmt: skip
            _check_template(pattern, compiled, replacement)
            self._compiled.append((pattern, compiled, replacement))
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
        for source, pattern, replacement in self._compiled:
            text = _substitute(text, source, pattern, replacement)
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


def _substitute(text: Mapped, source: str, pattern: regex.Pattern[str], replacement: str) -> Mapped:
    """*text* with every match of *pattern* (written *source*) replaced by the template
    *replacement*; :class:`LexiconError` when the search takes over :data:`PATTERN_TIMEOUT`."""
    edits = []
    try:
        for match in pattern.finditer(text.text, timeout=PATTERN_TIMEOUT):
            new = match.expand(replacement)
            if new != match.group(0):
                edits.append((match.start(), match.end(), new))
    except TimeoutError:
        raise LexiconError(
            f"lexicon pattern {source!r} took more than {PATTERN_TIMEOUT:g} s on one "
            f"sentence ({len(text.text)} characters) and was stopped; rewrite it without "
            "nested repeats such as (a+)+"
        ) from None
    return text.edit(edits) if edits else text


def _check_text(replacement: str, what: str) -> None:
    for char in replacement:
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS:
            raise LexiconError(f"{what} holds the control character U+{ord(char):04X}; "
                               "remove it")  # fmt: skip


def _check_template(source: str, pattern: regex.Pattern[str], replacement: str) -> None:
    """Refuse a template that names a group *pattern* lacks, has an unknown escape
    (``\\q``) or makes a control character, by expanding it against a match of a
    pattern with the same groups, all empty."""
    names = {index: name for name, index in pattern.groupindex.items()}
    groups = "".join(
        f"(?P<{names[i]}>)" if i in names else "()" for i in range(1, pattern.groups + 1)
    )
    empty = regex.compile(groups).match("")
    assert empty is not None  # empty groups always match the empty string
    try:
        literal = empty.expand(replacement)
    except IndexError:
        raise LexiconError(f"lexicon pattern {source!r}: the replacement {replacement!r} "
                           "names a group the pattern does not have") from None  # fmt: skip
    except regex.error as exc:
        raise LexiconError(f"lexicon pattern {source!r}: the replacement {replacement!r} "
                           f"is not a valid template ({exc})") from None  # fmt: skip
    _check_text(literal, f"lexicon pattern {source!r}: the replacement")


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
