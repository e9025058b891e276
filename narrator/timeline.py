"""Where things are in the finished audio: subtitle cues and chapters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import OptionError
from .stitch import Span
from .text import Kind, Segment

OPENING_TITLE = "Opening"
"""The title of the chapter made of the text before the first heading."""

CHAPTER_LEAD = 0.3
"""Seconds before a heading's first word that its chapter starts (within the pause before)."""


LINE_CHARS = 42
"""The most characters on one subtitle line (the broadcast and streaming convention)."""

CUE_LINES = 2
"""The most lines in one cue."""

CUE_SECONDS = 7.0
"""The longest a cue stays on screen: a longer sentence is shown in several cues."""

SHORT_CUE_CHARS = 20
"""A cue shorter than this reads as a fragment: avoided where the sentence is longer."""

_CUE_COST = 60
"""What one cue more costs in :func:`_cut_cost`: worth it where it saves two cuts in
mid-clause for cuts at commas."""

_SENTENCE_END = ".!?…"
_CLAUSE_END = ";:)—–"
_CLAUSE_STARTS = frozenset(
    "and but or nor so yet because although though while whereas which who whom whose where "  # noqa: SIM905
    "when whenever if unless until since that than as after before "
    "und aber oder denn weil dass wenn als ob obwohl während sondern".split()
)
"""Words a clause starts with (English, German): a cue may end before one."""


@dataclass(frozen=True)
class Cue:
    """One subtitle: a stretch of a segment's source text and when it is spoken.

    :attr:`text` holds at most :data:`CUE_LINES` lines of at most :data:`LINE_CHARS`
    characters (a single word longer than a line stays whole), joined by newlines."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Chapter:
    """A chapter: a heading and the narration up to the next one."""

    title: str
    start: float
    end: float
    first_segment: int
    """Index of the chapter's first segment."""


def cues(segments: Sequence[Segment], spans: Sequence[Span], sample_rate: int) -> list[Cue]:
    """The subtitle cues of every segment that produced speech, in order: a segment whose
    text or time does not fit one cue is shown in several (see :func:`sentence_cues`)."""
    found: list[Cue] = []
    for segment, span in zip(segments, spans, strict=True):
        if span.end > span.start:
            found += sentence_cues(segment.source, span.start / sample_rate, span.end / sample_rate)
    return found


def sentence_cues(text: str, start: float, end: float) -> list[Cue]:
    """*text*, spoken from *start* to *end* seconds, as cues of at most :data:`CUE_LINES`
    lines of :data:`LINE_CHARS` characters and at most :data:`CUE_SECONDS` seconds.

    The text is cut into as few cues as those limits allow, where a reader pauses anyway:
    after a sentence or clause mark, after a comma, before a conjunction, else between
    words; each cue is timed by its share of the characters.  Cut together, the cues'
    words are the text's words.
    """
    words = text.split()
    if not words:
        return []
    # Each word's share of the time: its characters and the space after it.
    weights = [len(word) + 1 for word in words]
    edges = [0]
    for weight in weights:
        edges.append(edges[-1] + weight)
    seconds_per_char = (end - start) / edges[-1]
    limit = LINE_CHARS * CUE_LINES

    # best[i]: (cost, where the last cue starts) of the best cutting of words[:i].
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * len(words)
    for i in range(1, len(words) + 1):
        for j in range(i - 1, -1, -1):
            chars = edges[i] - edges[j] - 1
            if i - j > 1 and (
                chars > limit
                or (edges[i] - edges[j]) * seconds_per_char > CUE_SECONDS
                or _wrap(words[j:i]) is None
            ):
                break
            cost = best[j][0] + _cut_cost(words, i, chars)
            if cost < best[i][0]:
                best[i] = (cost, j)
    cuts = [len(words)]
    while cuts[-1] > 0:
        cuts.append(best[cuts[-1]][1])
    cuts.reverse()
    times = [start + edge * seconds_per_char for edge in edges[:-1]] + [end]
    return [
        Cue(times[j], times[i], _wrap(words[j:i]) or " ".join(words[j:i]))
        for j, i in zip(cuts, cuts[1:], strict=False)
    ]


def _cut_cost(words: list[str], i: int, chars: int) -> float:
    """What a cue of *chars* characters that ends before ``words[i]`` costs: one cue more
    costs :data:`_CUE_COST`, a cut in mid-clause 40, at a comma 10, and a fragment up to 57."""
    cost = float(_CUE_COST)
    if i < len(words):
        last = words[i - 1].rstrip("\"'’”»")
        if last.endswith(tuple(_SENTENCE_END)):
            cost += 0
        elif last.endswith(tuple(_CLAUSE_END)) or words[i] in ("—", "–"):
            cost += 5
        elif last.endswith(","):
            cost += 10
        elif words[i].lower().strip("\"'(‘“«") in _CLAUSE_STARTS:
            cost += 20
        else:
            cost += 40
    return cost + 3 * max(0, SHORT_CUE_CHARS - chars)


def _wrap(words: list[str]) -> str | None:
    """*words* on one line, or on two balanced lines, each at most :data:`LINE_CHARS`
    characters (preferring to break after punctuation); None when they do not fit.
    A word longer than a line stays whole, on a line of its own."""
    total = sum(len(word) for word in words) + len(words) - 1
    if total <= LINE_CHARS or len(words) == 1:
        return " ".join(words)
    choice: tuple[float, int] | None = None
    top = -1
    for k in range(1, len(words)):
        top += len(words[k - 1]) + 1
        bottom = total - top - 1
        if (top > LINE_CHARS and k > 1) or (bottom > LINE_CHARS and k < len(words) - 1):
            continue
        score = abs(top - bottom) - (8 if words[k - 1][-1] in ",;:" + _SENTENCE_END else 0)
        if choice is None or score < choice[0]:
            choice = (score, k)
    if choice is None:
        return None
    k = choice[1]
    return " ".join(words[:k]) + "\n" + " ".join(words[k:])


def chapters(
    segments: Sequence[Segment],
    spans: Sequence[Span],
    sample_rate: int,
    duration: float,
    opening_title: str = OPENING_TITLE,
    *,
    starts: Sequence[tuple[str, int]] | None = None,
) -> list[Chapter]:
    """Chapters from the headings: each starts just before its heading is spoken.

    *starts*, when given, names the chapters instead, as (title, index of the first
    segment) in order: a book's table of contents, whose sub-headings are no chapters.
    Text before the first heading becomes a chapter of its own, named
    *opening_title*.  A narration without headings has no chapters.
    """
    if starts is None:
        starts = [(s.source.strip(), s.index) for s in segments if s.kind is Kind.HEADING]
    titles = {index: title for title, index in reversed(list(starts))}
    found: list[tuple[str, float, int]] = []
    previous_end = 0.0
    for segment, span in zip(segments, spans, strict=True):
        if segment.index in titles:
            start = max(previous_end, span.start / sample_rate - CHAPTER_LEAD)
            found.append((titles[segment.index], start, segment.index))
        previous_end = span.end / sample_rate
    if not found:
        return []
    if found[0][1] > 0.0 and found[0][2] > 0:
        found.insert(0, (opening_title, 0.0, 0))
    else:
        found[0] = (found[0][0], 0.0, found[0][2])
    ends = [s[1] for s in found[1:]] + [duration]
    return [Chapter(t, s, e, i) for (t, s, i), e in zip(found, ends, strict=True)]


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def format_srt(items: Sequence[Cue]) -> str:
    # An arrow in the text would read as a timing line.
    blocks = [
        f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text.replace('-->', '->')}\n"
        for n, c in enumerate(items, start=1)
    ]
    return "\n".join(blocks)


def format_vtt(items: Sequence[Cue]) -> str:
    blocks = [
        f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{_vtt_text(c.text)}\n" for c in items
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _vtt_text(text: str) -> str:
    """WebVTT cue text: ``&``, ``<`` and ``>`` as character references (which also keeps
    a ``-->`` in the text from reading as a timing line)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def subtitle_format(path: Path) -> str:
    """``srt`` or ``vtt`` from *path*'s suffix."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("srt", "vtt"):
        raise OptionError(f"subtitles must be a .srt or .vtt file, not {path.name!r}")
    return suffix


def render_subtitles(items: Sequence[Cue], path: Path) -> str:
    return format_srt(items) if subtitle_format(path) == "srt" else format_vtt(items)
