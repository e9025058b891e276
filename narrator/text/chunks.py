"""Breaking a sentence that is too long for an engine into chunks at clause boundaries."""

from __future__ import annotations

import re

_CLAUSE_ENDS = (
    re.compile(r"[;:—–]\s+|\s+[—–]\s+|\s-\s"),  # strong: semicolon, colon, dash
    re.compile(r",\s+"),  # weaker: comma
    re.compile(r"\s+(?=(?:and|but|or|so|yet|because|which|while|although|when)\b)"),
    re.compile(r"\s+"),  # last resort: any space, never inside a word
)


def chunk(text: str, limit: int | None) -> list[str]:
    """Split *text* into pieces of at most *limit* characters at the best clause boundaries.

    Pieces break after clause punctuation when possible, else before a
    conjunction, else at a space.  A single word longer than *limit* is cut.
    """
    text = text.strip()
    if limit is None or len(text) <= limit:
        return [text] if text else []
    for pattern in _CLAUSE_ENDS:
        cut = _best_cut(text, pattern, limit)
        if cut is not None:
            return chunk(text[:cut], limit) + chunk(text[cut:], limit)
    return [text[:limit]] + chunk(text[limit:], limit)


def _best_cut(text: str, pattern: re.Pattern[str], limit: int) -> int | None:
    """The boundary nearest the middle whose first piece fits in *limit*."""
    middle = len(text) / 2
    best: int | None = None
    for match in pattern.finditer(text):
        cut = match.end()
        if cut <= 0 or cut >= len(text) or match.start() > limit:
            continue
        if best is None or abs(cut - middle) < abs(best - middle):
            best = cut
    return best
