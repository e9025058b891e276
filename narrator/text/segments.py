"""Text -> segments: the units that are spoken one at a time, with the pause after each.

The front-end, in order: structure (:mod:`.markup`: headings, paragraphs, list
items, scene breaks), sentences (:mod:`.sentences`, NLTK Punkt), the
pronunciation lexicon (:mod:`.lexicon`) and normalization (:mod:`.normalize`)
of each sentence, the engine's chunks (:mod:`.chunks`), and the audit that
nothing was lost (:mod:`.audit`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..rendering import Boundary, Rendering
from . import markup
from .audit import ON_PURPOSE, Omission, Positions, audit
from .chunks import chunk
from .lexicon import Lexicon, combine
from .mapped import Mapped
from .normalize import Normalizer, normalizer_for
from .sentences import splitter_for

logger = logging.getLogger(__name__)


class Kind(str, Enum):
    """What a segment is."""

    HEADING = "heading"
    SENTENCE = "sentence"
    ITEM = "item"
    """A sentence of a list item (or a table row)."""


@dataclass(frozen=True)
class Segment:
    """One unit of speech: synthesized in one call per chunk, followed by one pause."""

    index: int
    """Position in the narration, from 0."""

    text: str
    """What is spoken: normalized, never empty."""

    source: str
    """The text it came from, as written (markup removed, lines joined)."""

    kind: Kind
    """Heading, sentence or list item."""

    boundary: Boundary
    """What follows it: another sentence, a new paragraph, a heading's pause, a scene break."""

    pause: float
    """Seconds of silence after it."""

    paragraph: int
    """Index of the paragraph (heading, list item) it belongs to."""

    chunks: tuple[str, ...] = ()
    """:attr:`text` cut to the engine's limit; one chunk when it fits."""

    line: int = 0
    """The line of the input where it starts, from 1."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["boundary"] = self.boundary.value
        data["chunks"] = list(self.chunks)
        return data


@dataclass
class Script:
    """Everything the front-end made of a text."""

    segments: list[Segment]
    omissions: list[Omission]
    """What is not spoken, with where and why."""

    spoken: list[Mapped] = field(default_factory=list, repr=False)
    """Each segment's spoken text, mapped back onto the input."""


_STRENGTH = {Boundary.SENTENCE: 0, Boundary.PARAGRAPH: 1, Boundary.HEADING: 2, Boundary.SCENE: 3,
             Boundary.END: 4}  # fmt: skip
_OPEN_END = re.compile(r"[^\W_][\"'”’»)\]]*$")
"""A text that ends in a word (perhaps quoted), without punctuation."""
_SAYS_SOMETHING = re.compile(r"[^\W_]")

LexiconLike = Lexicon | str | Path | None


def prepare(
    text: str,
    *,
    language: str = "en",
    rendering: Rendering | None = None,
    lexicon: LexiconLike | list[LexiconLike] = None,
    limit: int | None = None,
) -> Script:
    """The segments of *text* and what of it is not spoken.

    *language* is the voice's (``en_US``); *lexicon* a :class:`Lexicon`, a
    lexicon file, or a list of them (earlier ones win); *limit* the engine's
    longest text, which decides the segments' :attr:`Segment.chunks`.
    """
    rendering = rendering or Rendering()
    lexicons = lexicon if isinstance(lexicon, list) else [lexicon]
    merged = combine(lexicons)
    normalizer = Normalizer(language, merged) if merged else normalizer_for(language)
    splitter = splitter_for(language)
    blocks, dropped = markup.parse(text)
    units: list[_Unit] = []
    paragraph = -1
    for number, block in enumerate(blocks):
        if block.kind == markup.SCENE:
            if units:
                units[-1].boundary = _stronger(units[-1].boundary, Boundary.SCENE)
            continue
        made = _block_units(block, normalizer, splitter, dropped)
        if not made:
            continue
        paragraph += 1
        for unit in made:
            unit.paragraph = paragraph
        made[-1].boundary = _block_end(blocks, number)
        units.extend(made)
    segments: list[Segment] = []
    spoken: list[Mapped] = []
    where = Positions(text)
    kept: list[_Unit] = []
    for unit in units:
        if not _SAYS_SOMETHING.search(unit.spoken.text):
            if kept:  # nothing to say: its pause goes to the segment before
                kept[-1].boundary = _stronger(kept[-1].boundary, unit.boundary)
            continue
        kept.append(unit)
    paragraphs: dict[int, int] = {}  # renumbered, for blocks that had nothing to say
    for index, unit in enumerate(kept):
        boundary = Boundary.END if index == len(kept) - 1 else unit.boundary
        unit.paragraph = paragraphs.setdefault(unit.paragraph, len(paragraphs))
        if unit.spoken.text[:1].islower() and not unit.source[:1].isalpha():
            unit.spoken = unit.spoken.edit([(0, 1, unit.spoken.text[0].upper())])
        spoken_text = unit.spoken.text
        segments.append(Segment(
            index=index, text=spoken_text, source=unit.source, kind=unit.kind,
            boundary=boundary, pause=rendering.pause_after(boundary), paragraph=unit.paragraph,
            chunks=tuple(chunk(spoken_text, limit)), line=where(unit.spoken.span[0])[0],
        ))  # fmt: skip
        spoken.append(unit.spoken)
    return Script(segments, audit(text, spoken, dropped), spoken)


def split_text(
    text: str,
    *,
    language: str = "en",
    rendering: Rendering | None = None,
    lexicon: LexiconLike | list[LexiconLike] = None,
    limit: int | None = None,
    where: Callable[[int], str | None] | None = None,
) -> list[Segment]:
    """Split *text* into segments, each with the pause that follows it.

    See :func:`prepare` for the arguments; *where* tells the place in the source a line
    of *text* came from (:meth:`narrator.books.Document.place`), for the messages.
    What cannot be spoken is logged:
    skipped code blocks as warnings, unspeakable text at info level (shown with
    ``--verbose``), markup left out on purpose at debug level.  A text with
    nothing to speak (empty, or only punctuation, symbols, emoji, markup) raises
    :class:`~narrator.errors.InputError`: there is nothing to narrate.
    """
    script = prepare(text, language=language, rendering=rendering, lexicon=lexicon, limit=limit)
    log_omissions(script.omissions, where)
    if not script.segments:
        raise InputError(nothing_to_read(text))
    return script.segments


def nothing_to_read(text: str) -> str:
    """The message for a *text* that has no segment: why there is nothing to narrate."""
    if not text.strip():
        return "the text is empty; there is nothing to narrate"
    return (
        "the text has no words or numbers to speak (only punctuation, symbols, emoji or "
        "markup); there is nothing to narrate"
    )


def log_omissions(
    omissions: list[Omission], where: Callable[[int], str | None] | None = None
) -> None:
    """Report each omission on narrator's logger, at a level that fits its reason; with
    *where*, each names its place in the source (``ch03.xhtml, paragraph 14``) too."""
    for omission in omissions:
        place = where(omission.line) if where is not None else None
        at = f" ({place})" if place else ""
        if omission.reason == "code block":
            logger.warning("skipped a code block at line %d%s", omission.line, at)
        elif omission.reason in ON_PURPOSE:
            logger.debug("left out %s at line %d, column %d%s: %r", omission.reason,
                         omission.line, omission.column, at, omission.text)  # fmt: skip
        else:
            logger.info("unspeakable text at line %d, column %d%s: %r (%s)", omission.line,
                        omission.column, at, omission.text, omission.reason)  # fmt: skip


@dataclass
class _Unit:
    spoken: Mapped
    source: str
    kind: Kind
    boundary: Boundary = Boundary.SENTENCE
    paragraph: int = 0


def _block_units(
    block: markup.Block, normalizer: Normalizer, splitter: Any, dropped: list[markup.Dropped]
) -> list[_Unit]:
    if block.kind == markup.HEADING:
        sentences = [block.text] if block.text.text else []
        kind = Kind.HEADING
    else:
        sentences = block.text.slices(splitter.spans(block.text.text)) if block.text.text else []
        kind = Kind.ITEM if block.kind == markup.ITEM else Kind.SENTENCE
    units = []
    for sentence in sentences:
        spoken = normalizer(sentence, heading=kind is Kind.HEADING, dropped=dropped)
        units.append(_Unit(spoken, sentence.text, kind))
    if block.marker is not None:
        said = normalizer.cardinal_marker(block.marker.text)
        marker = block.marker.edit([(0, len(block.marker), said)])
        if units and units[0].spoken.text:
            first = units[0]
            gap = Mapped.insert(" ", first.spoken.span[0])
            first.spoken = marker + gap + first.spoken
            first.source = f"{block.marker.text} {first.source}"
        elif units:
            units[0].spoken = marker
        else:
            units.append(_Unit(marker, block.marker.text, kind))
    if units:  # a block's last words end a sentence: give the engine its full stop
        last = units[-1]
        if _OPEN_END.search(last.spoken.text):
            last.spoken = last.spoken + Mapped.insert(".", last.spoken.span[1])
    return units


def _block_end(blocks: list[markup.Block], number: int) -> Boundary:
    """The boundary after the last segment of ``blocks[number]``."""
    block = blocks[number]
    if block.kind == markup.HEADING:
        return Boundary.HEADING
    if block.kind == markup.ITEM:
        following = blocks[number + 1] if number + 1 < len(blocks) else None
        if following is not None and following.kind == markup.ITEM \
                and following.list_id == block.list_id:  # fmt: skip
            return Boundary.SENTENCE
    return Boundary.PARAGRAPH


def _stronger(a: Boundary, b: Boundary) -> Boundary:
    return a if _STRENGTH[a] >= _STRENGTH[b] else b
