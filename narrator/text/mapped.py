"""Text that remembers where it came from.

Every stage of the front-end (markup, sentence splitting, the lexicon,
normalization) rewrites text.  :class:`Mapped` carries, for each stretch of the
current text, the span of the original input it came from, so that what is
spoken can be traced back to what was written: the "nothing lost" audit uses it,
and so do the positions in warnings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

Replacement = Callable[["re.Match[str]"], "str | None"]
"""Turns a match into its new text, or None to leave it as it is."""


class Piece(NamedTuple):
    """A stretch of text and the span ``[start, end)`` of the input it stands for."""

    start: int
    end: int
    text: str
    verbatim: bool
    """True when *text* is exactly ``input[start:end]`` (so it can be cut anywhere)."""


class Mapped:
    """A string made of :class:`Piece` objects; rewriting it keeps the mapping."""

    __slots__ = ("pieces", "text")

    def __init__(self, pieces: Iterable[Piece]) -> None:
        self.pieces: list[Piece] = []
        for piece in pieces:
            _append(self.pieces, piece)
        self.text = "".join(p.text for p in self.pieces)

    @classmethod
    def of(cls, source: str, start: int = 0, end: int | None = None) -> Mapped:
        """``source[start:end]``, mapped onto itself."""
        end = len(source) if end is None else end
        return cls([Piece(start, end, source[start:end], True)])

    def __repr__(self) -> str:
        return f"Mapped({self.text!r})"

    def __len__(self) -> int:
        return len(self.text)

    @property
    def span(self) -> tuple[int, int]:
        """The span of the input this text covers (``(0, 0)`` when empty)."""
        if not self.pieces:
            return (0, 0)
        return (min(p.start for p in self.pieces), max(p.end for p in self.pieces))

    # --- rewriting ------------------------------------------------------------

    def edit(self, edits: Iterable[tuple[int, int, str]]) -> Mapped:
        """Replace ``text[a:b]`` by ``r`` for each ``(a, b, r)``.

        The edits must be sorted and must not overlap.  A replacement maps to
        the whole input span of the text it replaces; an insertion (``a == b``)
        maps to the empty span at its position.
        """
        walker = _Walker(self.pieces)
        out: list[Piece] = []
        position = 0
        for a, b, replacement in edits:
            walker.copy(out, position, a)
            start = walker.source_at(a)
            end = walker.source_end(b) if b > a else start
            if replacement:
                _append(out, Piece(start, end, replacement, False))
            position = b
        walker.copy(out, position, len(self.text))
        result = Mapped.__new__(Mapped)
        result.pieces = out
        result.text = "".join(p.text for p in out)
        return result

    def sub(self, pattern: re.Pattern[str], replacement: str | Replacement) -> Mapped:
        """Like :meth:`re.Pattern.sub`; *replacement* may return None to keep a match."""
        edits = []
        for match in pattern.finditer(self.text):
            new = match.expand(replacement) if isinstance(replacement, str) else replacement(match)
            if new is not None and new != match.group(0):
                edits.append((match.start(), match.end(), new))
        return self.edit(edits) if edits else self

    def slices(self, ranges: Iterable[tuple[int, int]]) -> list[Mapped]:
        """``self[a:b]`` for each sorted, non-overlapping ``(a, b)``, in one pass."""
        walker = _Walker(self.pieces)
        result = []
        for a, b in ranges:
            out: list[Piece] = []
            walker.copy(out, a, b)
            piece = Mapped.__new__(Mapped)
            piece.pieces = out
            piece.text = "".join(p.text for p in out)
            result.append(piece)
        return result

    def slice(self, a: int, b: int) -> Mapped:
        return self.slices([(a, b)])[0]

    def strip(self) -> Mapped:
        """Without white space at either end."""
        text = self.text
        left = len(text) - len(text.lstrip())
        right = len(text.rstrip())
        if left == 0 and right == len(text):
            return self
        return self.slice(left, max(left, right))

    def source_span(self, a: int, b: int) -> tuple[int, int]:
        """The input span that ``text[a:b]`` came from."""
        return self.source_spans([(a, b)])[0]

    def source_spans(self, ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """:meth:`source_span` for each of sorted, non-overlapping *ranges*, in one pass."""
        walker = _Walker(self.pieces)
        spans = []
        for a, b in ranges:
            start = walker.source_at(a)
            spans.append((start, walker.source_end(b) if b > a else start))
        return spans

    def __add__(self, other: Mapped) -> Mapped:
        return Mapped([*self.pieces, *other.pieces])

    @staticmethod
    def insert(text: str, at: int) -> Mapped:
        """New text that stands for no input, placed at input position *at*."""
        return Mapped([Piece(at, at, text, False)])


class _Walker:
    """Walks forward through pieces by output position; every call moves forward only."""

    __slots__ = ("pieces", "index", "offset")

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.index = 0
        self.offset = 0  # output position where pieces[index] starts

    def _seek(self, position: int) -> None:
        pieces = self.pieces
        while self.index < len(pieces) and self.offset + len(pieces[self.index].text) <= position:
            self.offset += len(pieces[self.index].text)
            self.index += 1

    def copy(self, out: list[Piece], a: int, b: int) -> None:
        """Append the pieces of output ``[a, b)`` to *out*."""
        while a < b:
            self._seek(a)
            if self.index >= len(self.pieces):
                return
            piece = self.pieces[self.index]
            size = len(piece.text)
            x, y = a - self.offset, min(b - self.offset, size)
            if x == 0 and y == size:
                _append(out, piece)
            elif piece.verbatim:
                _append(out, Piece(piece.start + x, piece.start + y, piece.text[x:y], True))
            else:
                _append(out, Piece(piece.start, piece.end, piece.text[x:y], False))
            a = self.offset + y

    def source_at(self, position: int) -> int:
        """The input position where output *position* starts."""
        self._seek(position)
        if self.index >= len(self.pieces):
            return self.pieces[-1].end if self.pieces else 0
        piece = self.pieces[self.index]
        return piece.start + (position - self.offset) if piece.verbatim else piece.start

    def source_end(self, position: int) -> int:
        """The input position where output ``[.., position)`` ends (*position* > 0)."""
        self._seek(position - 1)
        if self.index >= len(self.pieces):
            return self.pieces[-1].end if self.pieces else 0
        piece = self.pieces[self.index]
        return piece.start + (position - self.offset) if piece.verbatim else piece.end


def _append(out: list[Piece], piece: Piece) -> None:
    """Append *piece*, merging it into the last one when they join up."""
    if not piece.text:
        return
    if out:
        last = out[-1]
        if last.verbatim and piece.verbatim and last.end == piece.start:
            out[-1] = Piece(last.start, piece.end, last.text + piece.text, True)
            return
        if (
            not last.verbatim
            and not piece.verbatim
            and (last.start, last.end)
            == (
                piece.start,
                piece.end,
            )
        ):
            out[-1] = Piece(last.start, last.end, last.text + piece.text, False)
            return
    out.append(piece)
