"""Nothing lost: every word of the input is spoken, or reported with its position.

A word is a run of letters and digits.  The front-end carries, for every
piece of spoken text, the span of the input it came from
(:class:`narrator.text.mapped.Mapped`).  A word of the input is *spoken* when
some piece of some segment's spoken text covers it and says something (has a
letter or a digit): as itself, or normalized ("1984" -> "nineteen
eighty-four"), or respelled by a lexicon.  Every other word is an
:class:`Omission`, and so is every symbol dropped because no engine can say it
(emoji).  Omissions that were meant (a link's target, a code block) carry the
reason.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .mapped import Mapped
from .markup import Dropped
from .normalize import UNSPEAKABLE

WORD = re.compile(r"[^\W_]+")
"""What counts as a word: letters and digits."""

_SAYS_SOMETHING = re.compile(r"[^\W_]")
_SHOWN = 60
"""Characters of an omission quoted in messages."""

NOT_SPOKEN = "not spoken"
ON_PURPOSE = frozenset({"HTML comment", "HTML tag", "link target", "link reference",
                        "image source", "footnote mark", "front matter",
                        "citation mark"})  # fmt: skip
"""Reasons for omissions that are markup, left out by design (logged at debug level)."""


@dataclass(frozen=True)
class Omission:
    """Text of the input that is not spoken."""

    start: int
    end: int
    """The span of the input, in characters."""

    line: int
    column: int
    """Where it starts, both from 1."""

    text: str
    """What it says (shortened when long)."""

    reason: str
    """Why: "not spoken", "unspeakable symbol", "code block", "link target", ..."""

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.text!r} ({self.reason})"


class Positions:
    """Line and column numbers for offsets into a text."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1


def audit(source: str, spoken: Iterable[Mapped], dropped: Iterable[Dropped] = ()) -> list[Omission]:
    """What of *source* is not in *spoken*, in order of position.

    *spoken* is the spoken text of every segment; *dropped* are the stretches
    left out on purpose or as unspeakable, which give omissions their reasons
    (and report dropped symbols, which are not words).
    """
    covered = _merge(
        (piece.start, piece.end)
        for mapped in spoken
        for piece in mapped.pieces
        if piece.end > piece.start and _SAYS_SOMETHING.search(piece.text)
    )
    dropped = sorted(dropped, key=lambda d: (d.start, d.end))
    starts = [d.start for d in dropped]
    lost: list[tuple[int, int, str]] = []
    index = 0
    for match in WORD.finditer(source):
        start, end = match.span()
        if lost and start < lost[-1][1]:
            continue  # inside a dropped stretch already reported
        while index < len(covered) and covered[index][1] <= start:
            index += 1
        if index < len(covered) and covered[index][0] < end:
            continue
        item = _dropped_at(dropped, starts, start, end)
        if item is not None:
            lost.append((item.start, item.end, item.reason))
        elif lost and lost[-1][2] == NOT_SPOKEN and not WORD.search(source, lost[-1][1], start):
            lost[-1] = (lost[-1][0], end, NOT_SPOKEN)
        else:
            lost.append((start, end, NOT_SPOKEN))
    # Dropped symbols are reported whether or not they held a word (":D" does).
    symbols = {(d.start, d.end, d.reason) for d in dropped if d.reason == UNSPEAKABLE}
    lost = sorted(symbols.union(lost))
    where = Positions(source)
    omissions = []
    for start, end, reason in lost:
        text = source[start:end]
        if len(text) > _SHOWN:
            text = text[: _SHOWN - 1] + "…"
        line, column = where(start)
        omissions.append(Omission(start, end, line, column, text, reason))
    return omissions


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _dropped_at(dropped: list[Dropped], starts: list[int], start: int, end: int) -> Dropped | None:
    """The dropped stretch that covers ``[start, end)``, if any."""
    index = bisect.bisect_right(starts, start)
    for candidate in range(index - 1, max(-1, index - 9), -1):
        item = dropped[candidate]
        if item.start <= start and item.end >= end:
            return item
    return None
