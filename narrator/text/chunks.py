"""Breaking a sentence that is too long for an engine into chunks at clause boundaries.

A segment is spoken in one engine call when it fits the engine's limit.  When
it does not, it is cut into as few chunks as the limit allows, unless that
would cut a clause in two where a comma or a stronger boundary is in reach;
then it takes a chunk more.  Each cut is at the strongest boundary near where
an even split would put it, in this order of preference: the end of a sentence
inside the segment (after ``?`` in a quote), a semicolon, colon or dash, a
comma or closing bracket, the space before a conjunction ("and", "but",
"which", ...), any space.  A word is never cut, unless it alone is longer than
the limit.  Narrator puts a short pause (:data:`narrator.stitch.CHUNK_PAUSE`)
between the chunks of a segment.

Whatever the engine, no chunk is longer than :data:`LONGEST_CHUNK` characters:
longer "sentences" (a page without punctuation) would make a model's memory
use explode.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Iterable

LONGEST_CHUNK = 1000
"""The most characters in one engine call, whatever the engine's own limit."""

_CONJUNCTIONS = (
    "and|but|or|nor|so|yet|because|which|while|whilst|although|though|when|whenever|where|"
    "whereas|if|unless|until|since|after|before|that|who|whom|whose|as|"
    # A few other languages' commonest conjunctions.
    "und|aber|oder|weil|dass|wenn|als|et|mais|ou|car|que|qui|quand|y|pero|porque|cuando|"
    "e|ma|perché|quando|mas|porque|en|maar|omdat|dat|och|men|att|og|fordi"
)
_BOUNDARIES: tuple[tuple[int, re.Pattern[str]], ...] = (
    (5, re.compile(r"[.!?…][\"'”’»)\]]*(?=\s)|[。！？][」』）”’]*")),
    (4, re.compile(r"[;:](?=\s)|\s[—–-](?=\s)|—(?=\w)|[；：]")),
    (3, re.compile(r"[,)\]](?=\s)|[，、）」』]")),
    (2, re.compile(rf"(?=\s(?:{_CONJUNCTIONS})\b)", re.IGNORECASE)),
    (1, re.compile(r"(?=\s)")),
)
"""(strength, pattern): a chunk may end where a pattern's match ends."""

_CLAUSE = 3
"""A cut after a comma or stronger."""

_BALANCE = 3.0
"""How much strength a cut loses for lying a whole limit away from an even split."""


def chunk(text: str, limit: int | None) -> list[str]:
    """Split *text* into pieces of at most *limit* characters at the best clause boundaries.

    *limit* None means no limit but :data:`LONGEST_CHUNK`.  The pieces, joined
    with single spaces, give back *text* (up to white space at the cuts).
    """
    text = text.strip()
    if not text:
        return []
    cap = min(limit, LONGEST_CHUNK) if limit else LONGEST_CHUNK
    cap = max(cap, 1)
    if len(text) <= cap:
        return [text]
    positions, strengths = _candidates(text)
    pieces: list[str] = []
    start = 0
    while len(text) - start > cap:
        remaining = len(text) - start
        count = math.ceil(remaining / cap)
        target = start + remaining / count
        # Fewest chunks first (what is left must fit in count - 1 chunks), unless
        # that means cutting a clause in the middle where a clause boundary is near.
        earliest = len(text) - (count - 1) * cap
        tight = _best_cut(positions, strengths, max(start, earliest - 1), start + cap, target, cap)
        if tight is None or tight[1] < _CLAUSE:
            clause = _best_cut(positions, strengths, start, start + cap, target, cap, _CLAUSE)
            tight = clause or tight or _best_cut(positions, strengths, start, start + cap,
                                                 target, cap)  # fmt: skip
        cut = tight[0] if tight is not None else None
        if cut is None:
            cut = _hard_cut(text, start, start + cap)
        piece = text[start:cut].strip()
        if piece:
            pieces.append(piece)
        start = cut
        while start < len(text) and text[start].isspace():
            start += 1
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def fit(chunks: Iterable[str], limit: int | None) -> list[str]:
    """*chunks*, with any that is longer than *limit* cut again."""
    out: list[str] = []
    for piece in chunks:
        out.extend(chunk(piece, limit) if limit and len(piece) > limit else [piece])
    return out


def _candidates(text: str) -> tuple[list[int], list[int]]:
    """Sorted cut positions and the strength of each (the strongest boundary there)."""
    best: dict[int, int] = {}
    for strength, pattern in _BOUNDARIES:
        for match in pattern.finditer(text):
            position = match.end()
            if 0 < position < len(text) and best.get(position, 0) < strength:
                best[position] = strength
    positions = sorted(best)
    return positions, [best[p] for p in positions]


def _best_cut(
    positions: list[int],
    strengths: list[int],
    start: int,
    end: int,
    target: float,
    cap: int,
    strongest: int = 0,
) -> tuple[int, int] | None:
    """The best candidate in ``(start, end]`` (so the chunk fits) and its strength, or None.

    Only candidates of at least *strongest* strength count.
    """
    first = bisect.bisect_right(positions, start)
    last = bisect.bisect_right(positions, end)
    best: tuple[int, int] | None = None
    best_score = -math.inf
    for index in range(first, last):
        if strengths[index] < strongest:
            continue
        position = positions[index]
        score = strengths[index] - _BALANCE * abs(position - target) / cap
        if score > best_score:
            best, best_score = (position, strengths[index]), score
    return best


def _hard_cut(text: str, start: int, end: int) -> int:
    """A cut inside an over-long word: at *end*, moved back off combining marks."""
    cut = end
    while cut > start + 1 and unicodedata.category(text[cut])[0] == "M":
        cut -= 1
    return cut
