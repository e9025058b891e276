"""Structure: Markdown-ish or plain text -> blocks (headings, paragraphs, list items, breaks).

What is recognised, and how it is read:

* ATX headings (``# Title`` to ``###### Title``) and setext headings (a single
  line underlined with ``===`` or ``---``) are headings.
* In plain text, a single short line between blank lines is a heading when it
  has no sentence punctuation at its end and either starts with a chapter-like
  word (``Chapter IV``, ``Part Two: The Return``, ``Prologue``) or is a bare
  number (``12``, ``IV.``), ALL CAPS, or Title Case of two to eight words.
  A one-line paragraph such as ``He left.`` is never a heading.
* A text with one paragraph per line and no blank lines (as many exported texts
  are: some line longer than a hard wrap, nearly every line ending a sentence)
  is read line by line: each line is a paragraph, and a short line without
  punctuation at its end before a longer line is a heading.  Hard-wrapped prose
  (lines that end mid-sentence), verse, and one sentence per line stay one paragraph.
* List items (``-``, ``*``, ``+``, ``•``, ``1.``, ``1)``) are items, read one by
  one; an ordered item's number is read.  Table rows are read as items, cell by cell.
* Block quotes (``>``) are read as paragraphs.
* Verse (a paragraph of three or more short lines, each after the first starting
  with a capital) keeps a breath at the end of each line, as a comma gives it.
* Scene breaks, a line of only ``***``, ``* * *``, ``---``, ``___``, ``⁂``, ``#``
  (and the like), give a long pause.
* Fenced code blocks (```` ``` ```` or ``~~~``) are skipped and reported; an
  opening fence that is never closed is read as text.  Indented text is prose
  (books indent paragraphs), never code.
* YAML front matter at the very start (between ``---`` lines, ``key: value``
  lines) is metadata, not read.
* Numbered citations at the end of a clause (``holds [1, 3].``, ``text.[1][2]``) are
  not read.
* Footnotes: a mark (``word[^1]``) is not read; a definition (``[^1]: Text``) is
  read where it stands, as "Footnote 1: Text".
* HTML comments, HTML tags and link reference definitions are dropped; link
  syntax ``[text](url)`` reads its text, images ``![alt](src)`` their alt text;
  emphasis markers, inline code backticks and backslash escapes are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .mapped import Mapped

PARAGRAPH, HEADING, ITEM, SCENE = "paragraph", "heading", "item", "scene"


@dataclass
class Block:
    """One structural unit of the input."""

    kind: str
    """``paragraph``, ``heading``, ``item`` or ``scene`` (a scene break: no text)."""

    text: Mapped
    """The block's text, markup removed, lines joined by spaces."""

    marker: Mapped | None = None
    """An ordered list item's number (``"3."``), read before the item's text."""

    list_id: int | None = None
    """Items of one list share this number."""


@dataclass
class Dropped:
    """A stretch of the input left out on purpose, and why."""

    start: int
    end: int
    reason: str


@dataclass
class _Raw:
    kind: str
    start: int
    end: int
    lines: int = 1
    marker: tuple[int, int] | None = None
    quote: bool = False
    table: bool = False
    list_id: int | None = None
    candidate: bool = False  # a one-line paragraph that may be a plain-text heading


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^`]*)$")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-{2,})[ \t]*$")
_SCENE = re.compile(
    r"^[ \t]*(?:([*\-_=~•·—–])(?:[ \t]*\1){2,}|[*•·](?:[ \t]*[*•·]){2,}|⁂|#|§)[ \t]*$"
)
_REFERENCE = re.compile(r"^ {0,3}\[(?!\^)[^\]]+\]:[ \t]*\S+.*$")
_YAML_LINE = re.compile(r"^(?:[\w.-]+:(?:\s.*)?|\s+\S.*|-\s.*|#.*|\s*)$")
"""A line of YAML front matter: a key, an indented or listed value, a comment, a blank."""
FRONT_MATTER_LINES = 200
"""Lines in which front matter must end."""
_CITE = r"\[\d{1,3}(?:\s?[,–-]\s?\d{1,3})*\]"
_CITATION = re.compile(
    rf"(?<=[.,;:!?)\"”’])(?:{_CITE})+"  # attached after punctuation: "text.[1][2]"
    rf"|(?<=[\w.,;:!?)\"”’]\s)(?:{_CITE})+(?=\s*(?:[.,;:!?)]|$))"  # "holds [1, 3]."
)
"""A numbered citation at the end of a clause: ``holds [1, 3].``, ``text.[1][2]``."""
_FOOTNOTE = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:")
"""A footnote's definition (``[^1]: The text.``), read where it stands."""
_FOOTNOTE_MARK = re.compile(r"\[\^[^\]\s]+\](?!:)")
"""A footnote's mark in the text (``word[^1]``), not read."""
_BULLET = re.compile(r"^([ \t]*)([-*+•])[ \t]+(?=\S)")
_ORDERED = re.compile(r"^([ \t]*)(\d{1,3})([.)])[ \t]+(?=\S)")
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_LINE_BREAK = r"(?:\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])"
VERSE_LINE = 60
VERSE_LINES = 3
"""Characters a line of verse has at most, and lines a stanza has at least."""
_STARTS_CAPITAL = re.compile(r"""^[\"'“‘(\[]*[^\W\d_a-z]""")
_ENDS_CLAUSE = re.compile(r"""[,;:.!?…—–-][\"'”’)\]]*\s*$""")
_JOIN = re.compile(rf"[ \t]*{_LINE_BREAK}[ \t]*")
_JOIN_QUOTE = re.compile(rf"[ \t]*{_LINE_BREAK}[ \t]*(?:>[ \t]?)*[ \t]*")
_CELL = re.compile(r"^[ \t]*\|[ \t]*|[ \t]*\|[ \t]*$|[ \t]*(?<!\\)\|[ \t]*")

# Inline markup.
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_LINK = re.compile(r"(?<!\\)\[([^\]\n]+)\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REF_LINK = re.compile(r"(?<!\\)\[([^\]\n]+)\](\[[^\]\n]*\])")  # the label with its brackets
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+|[^>\s@]+@[^>\s@]+\.[^>\s@]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s+[^<>]*?)?/?>")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_EMPHASIS = re.compile(
    r"(?<![\w\\*_~])(\*{1,3}|_{1,3}|~~)(?=[^\s*_~])(.+?)(?<=[^\s\\*_~])\1(?![\w*_~])"
)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")

# Plain-text headings.
_HEADING_WORDS = (
    r"chapter|part|book|volume|vol\.|act|scene|section|canto|letter|"
    r"prologue|epilogue|preface|foreword|introduction|afterword|interlude|appendix|"
    r"contents|acknowledge?ments|conclusion|postscript|dedication|glossary|"
    r"bibliography|notes|author['’]s note|coda|envoi"
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
    r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final"
)
_ROMAN = r"(?=[MDCLXVI])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_KEYWORD_HEADING = re.compile(
    rf"^(?:{_HEADING_WORDS})(?:\s+(?:\d+|{_ROMAN}|"
    rf"(?:the\s+)?(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))?)(?![\w'’]))?(?P<rest>.*)$",
    re.IGNORECASE,
)
_TITLE_AFTER_KEYWORD = re.compile(r"^\s*[:.—–-]\s*\S(?:.*[^.,;])?$|^\.?$")
_NUMBER_HEADING = re.compile(rf"^(?:\d{{1,3}}|{_ROMAN})\.?$")
_SMALL_WORDS = frozenset({
    "a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of", "on",
    "or", "over", "per", "the", "to", "up", "upon", "vs", "via", "with",
})  # fmt: skip
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*\s*$")
_TERMINAL = re.compile(r"[.!?…,;:\"'”’)\]]$")
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 10
WRAP_WIDTH = 100
"""Characters a hard-wrapped line has at most: a block with a longer line, whose lines
all end sentences or are short headings, has one paragraph per line."""
_OPEN_LINES = 4
"""One line in this many, at most, ends mid-sentence in a text of one paragraph per line."""
_ENDS_PARAGRAPH_LINE = re.compile(r"[.!?…:][\"'”’»)\]]*$")
_INNER_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*\s+[\"'“‘«(]*[^\W\d_a-z]")


def parse(text: str) -> tuple[list[Block], list[Dropped]]:
    """The blocks of *text*, in order, and what was left out of them on purpose."""
    dropped: list[Dropped] = []
    comments = [(m.start(), m.end()) for m in _COMMENT.finditer(text)]
    dropped.extend(Dropped(a, b, "HTML comment") for a, b in comments)
    document = Mapped.of(text)
    if comments:
        document = document.edit((a, b, "") for a, b in comments)
    skipped: list[Dropped] = []  # positions in document.text, the text without comments
    raws = _Lines(document.text, skipped).parse()
    spans = document.source_spans((d.start, d.end) for d in skipped)
    dropped.extend(Dropped(a, b, d.reason) for (a, b), d in zip(spans, skipped, strict=True))
    ranges: list[tuple[int, int]] = []
    for raw in raws:
        if raw.marker:
            ranges.append(raw.marker)
        ranges.append((raw.start, raw.end))
    pieces = iter(document.slices(ranges))
    blocks = []
    for raw in raws:
        marker = next(pieces) if raw.marker else None
        body = next(pieces)
        if raw.kind == SCENE:
            blocks.append(Block(SCENE, body))
            continue
        join = _JOIN_QUOTE if raw.quote else _JOIN
        if raw.kind == PARAGRAPH and _is_verse(join.split(body.text)):
            # A line of verse ends with a breath, as a comma would give it.
            body = body.sub(join, lambda m: " " if _ENDS_CLAUSE.search(m.string, 0, m.start())
                            else ", ")  # fmt: skip
        else:
            body = body.sub(join, " ")
        if raw.table:
            body = body.sub(_CELL, lambda m: "" if m.start() == 0 or m.end() == len(m.string)
                            else ", ")  # fmt: skip
        body = inline(body, dropped).strip()
        kind = raw.kind
        if raw.candidate and looks_like_heading(body.text):
            kind = HEADING
        if body.text or marker is not None:
            blocks.append(Block(kind, body, marker, raw.list_id))
    dropped.sort(key=lambda d: d.start)
    return blocks, dropped


def _is_verse(lines: list[str]) -> bool:
    """Whether a paragraph's lines are verse: three or more short lines, each after
    the first starting with a capital (hard-wrapped prose goes on in lower case)."""
    lines = [line.strip() for line in lines]
    return (
        len(lines) >= VERSE_LINES
        and all(0 < len(line) <= VERSE_LINE for line in lines)
        and all(_STARTS_CAPITAL.match(line) for line in lines[1:])
    )


def inline(text: Mapped, dropped: list[Dropped]) -> Mapped:
    """*text* without inline Markdown: emphasis, code backticks, link and image syntax, tags.

    What is kept (a link's text, an emphasized word) keeps its place in the input;
    what is dropped with words in it (a link's target) is recorded in *dropped*.
    """
    if not any(c in text.text for c in "*_~`[]<>\\"):
        return text
    text = _footnote(text)
    text = drop_matches(text, _FOOTNOTE_MARK, dropped, "footnote mark")
    text = _unwrap(text, _IMAGE, dropped, "image source")
    text = _unwrap(text, _LINK, dropped, "link target")
    # Citations at the end of a clause only ("holds [1, 3].", "text.[1][2]"); one
    # inside a clause ("shown [12] by") is read.  Before reference links: "[1][2]".
    text = drop_matches(text, _CITATION, dropped, "citation mark")
    text = _unwrap(text, _REF_LINK, dropped, "link reference")
    text = _unwrap(text, _AUTOLINK)
    text = drop_matches(text, _HTML_TAG, dropped, "HTML tag", " ")  # (their names are words)
    text = _unwrap(text, _CODE_SPAN, group=2)
    for _ in range(3):
        changed = _unwrap(text, _EMPHASIS, group=2)
        if changed is text:
            break
        text = changed
    return _unwrap(text, _ESCAPE)


def _footnote(text: Mapped) -> Mapped:
    """A footnote's definition, ``[^1]: Text``, read as "Footnote 1: Text"."""
    definition = _FOOTNOTE.match(text.text)
    if definition is None:
        return text
    start, end = definition.span(1)
    return text.edit([(definition.start(), start, "Footnote "), (end, definition.end(), ":")])


def drop_matches(
    text: Mapped,
    pattern: re.Pattern[str],
    dropped: list[Dropped] | None,
    reason: str,
    replacement: str = "",
) -> Mapped:
    """*text* with each match of *pattern* replaced by *replacement*, and recorded in
    *dropped* (when given) with *reason*."""
    matches = list(pattern.finditer(text.text))
    if not matches:
        return text
    if dropped is not None:
        spans = text.source_spans(m.span() for m in matches)
        dropped.extend(Dropped(start, end, reason) for start, end in spans)
    return text.edit((m.start(), m.end(), replacement) for m in matches)


def _unwrap(
    text: Mapped,
    pattern: re.Pattern[str],
    dropped: list[Dropped] | None = None,
    reason: str = "",
    group: int = 1,
) -> Mapped:
    """Keep only *group* of each match, in place; record a second group with words as dropped."""
    edits: list[tuple[int, int, str]] = []
    lost: list[tuple[int, int]] = []
    for match in pattern.finditer(text.text):
        keep_start, keep_end = match.span(group)
        if dropped is not None and pattern.groups >= 2:
            a, b = match.span(2)
            if any(c.isalnum() for c in match.string[a:b]):
                lost.append((a, b))
        edits.append((match.start(), keep_start, ""))
        edits.append((keep_end, match.end(), ""))
    if dropped is not None and lost:
        dropped.extend(Dropped(start, end, reason) for start, end in text.source_spans(lost))
    return text.edit(e for e in edits if e[0] < e[1]) if edits else text


def looks_like_heading(line: str) -> bool:
    """True for a lone short line that reads as a heading (see the module's rules)."""
    line = line.strip()
    if not line or len(line) > _MAX_HEADING_CHARS or line[0] in "\"'“‘«(":
        return False
    words = line.split()
    if len(words) > _MAX_HEADING_WORDS:
        return False
    if _NUMBER_HEADING.match(line):
        return True
    keyword = _KEYWORD_HEADING.match(line)
    if keyword and _TITLE_AFTER_KEYWORD.match(keyword.group("rest")):
        return True
    if _TERMINAL.search(line):
        return False
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters) and any(len(w) > 1 for w in words):
        return True
    if not 2 <= len(words) <= 8 or not words[0][:1].isupper():
        return False
    return all(w[:1].isupper() or w[:1].isdigit() or w.lower() in _SMALL_WORDS for w in words)


class _Lines:
    """The line-by-line block parser."""

    def __init__(self, text: str, dropped: list[Dropped]) -> None:
        self.text = text
        self.dropped = dropped
        self.raws: list[_Raw] = []
        self.current: _Raw | None = None
        self.blank_before = True
        self.lists = 0

    def parse(self) -> list[_Raw]:
        lines: list[tuple[int, int]] = []  # (content start, content end)
        offset = 0
        for line in self.text.splitlines(keepends=True):
            content = line.rstrip("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")
            lines.append((offset, offset + len(content)))
            offset += len(line)
        index = self._front_matter(lines)
        while index < len(lines):
            index = self._line(lines, index)
        self._flush()
        return self.raws

    def _front_matter(self, lines: list[tuple[int, int]]) -> int:
        """Skip YAML front matter (``---``, ``key: value`` lines, ``---``) at the very
        start: the first line after it."""
        if not lines or self.text[lines[0][0] : lines[0][1]].rstrip() != "---":
            return 0
        for index in range(1, min(len(lines), FRONT_MATTER_LINES)):
            line = self.text[lines[index][0] : lines[index][1]]
            if line.rstrip() in ("---", "...") and index > 1:
                self.dropped.append(Dropped(0, lines[index][1], "front matter"))
                return index + 1
            if not _YAML_LINE.match(line):
                return 0
        return 0

    def _line(self, lines: list[tuple[int, int]], index: int) -> int:
        start, end = lines[index]
        line = self.text[start:end]
        fence = _FENCE.match(line)
        if fence:
            closing = self._closing_fence(lines, index, fence.group(1))
            if closing is not None:
                self._flush()
                self.dropped.append(Dropped(start, lines[closing][1], "code block"))
                self.blank_before = True
                return closing + 1
        quote = False
        while True:
            marker = _QUOTE.match(line)
            if not marker:
                break
            quote = True
            start += marker.end()
            line = line[marker.end() :]
        if not line.strip():
            self._flush()
            self.blank_before = True
            return index + 1
        if self.current is not None and self.current.quote != quote:
            self._flush()
        self._classify(start, end, line, quote)
        self.blank_before = False
        return index + 1

    def _classify(self, start: int, end: int, line: str, quote: bool) -> None:
        current = self.current
        heading = _ATX.match(line)
        if heading:
            self._flush()
            title = heading.group(2)
            if title is None or not title.strip():
                if len(heading.group(1)) == 1:
                    self._scene(start, end)
                return
            self._add(_Raw(HEADING, start + heading.start(2), start + heading.end(2), quote=quote))
            self._flush()
            return
        setext = _SETEXT.match(line)
        if (setext and current is not None and current.kind == PARAGRAPH and current.lines == 1
                and not self.blank_before
                and (setext.group(1)[0] == "=" or not _ENDS_SENTENCE.search(
                    self.text[current.start:current.end]))):  # fmt: skip
            current.kind = HEADING
            current.candidate = False
            self._flush()
            return
        if _SCENE.match(line) or setext:
            self._flush()
            self._scene(start, end)
            return
        if _REFERENCE.match(line):
            self._flush()
            self.dropped.append(Dropped(start, end, "link reference"))
            return
        if _FOOTNOTE.match(line):
            self._flush()
            self._add(_Raw(PARAGRAPH, start + len(line) - len(line.lstrip()), end, quote=quote))
            return
        if _TABLE_ROW.match(line):
            self._flush()
            if not _TABLE_RULE.match(line):
                self._add(_Raw(ITEM, start, end, quote=quote, table=True, list_id=self._list()))
                self._flush()
            return
        item = _BULLET.match(line) or _ORDERED.match(line)
        if item and self._can_start_item(item):
            self._flush()
            marker = None
            if item.re is _ORDERED:
                marker = (start + item.start(2), start + item.end(3))
            self._add(_Raw(ITEM, start + item.end(), end, marker=marker, quote=quote,
                           list_id=self._list()))  # fmt: skip
            return
        if current is not None:
            current.end = end
            current.lines += 1
            return
        last = self.raws[-1] if self.raws else None
        if (self.blank_before and last is not None and last.kind == ITEM and not last.table
                and line[:1] in " \t"):  # fmt: skip
            self._add(_Raw(ITEM, start + len(line) - len(line.lstrip()), end, quote=quote,
                           list_id=last.list_id))  # fmt: skip
            return
        self._add(_Raw(PARAGRAPH, start + len(line) - len(line.lstrip()), end, quote=quote))

    def _can_start_item(self, item: re.Match[str]) -> bool:
        current = self.current
        if current is None or current.kind == ITEM:
            return True
        # An ordered list interrupts a paragraph only when it starts at 1 (as in CommonMark).
        return item.re is _BULLET or item.group(2) == "1"

    def _list(self) -> int:
        last = self.raws[-1] if self.raws else None
        current = self.current
        if current is not None and current.kind == ITEM and current.list_id is not None:
            return current.list_id
        if current is None and last is not None and last.kind == ITEM and last.list_id is not None:
            return last.list_id
        self.lists += 1
        return self.lists

    def _closing_fence(self, lines: list[tuple[int, int]], index: int, fence: str) -> int | None:
        closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        for later in range(index + 1, len(lines)):
            start, end = lines[later]
            if closing.match(self.text, start, end):
                return later
        return None

    def _scene(self, start: int, end: int) -> None:
        self.raws.append(_Raw(SCENE, start, end))

    def _add(self, raw: _Raw) -> None:
        self._flush()
        self.current = raw

    def _flush(self) -> None:
        raw = self.current
        if raw is None:
            return
        self.current = None
        if raw.kind == PARAGRAPH and raw.lines > 1 and not raw.quote:
            lines = _line_spans(self.text, raw.start, raw.end)
            groups = _paragraph_per_line([self.text[a:b] for a, b in lines])
            if groups is not None:
                for first, last, heading in groups:
                    self.raws.append(_Raw(
                        HEADING if heading else PARAGRAPH, lines[first][0], lines[last][1],
                        lines=last - first + 1, candidate=not heading and first == last,
                    ))  # fmt: skip
                return
        if raw.kind == PARAGRAPH and raw.lines == 1 and not raw.quote:
            raw.candidate = True
        self.raws.append(raw)


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The (start, end) of each line of ``text[start:end]``, without the spaces around it."""
    spans = []
    for match in re.finditer(r"[^\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+", text[start:end]):
        line = match.group(0)
        if line.strip():
            left = len(line) - len(line.lstrip())
            spans.append((start + match.start() + left, start + match.start() + len(line.rstrip())))
    return spans


def _open_short_line(line: str, following: str) -> bool:
    """A line of a paragraph-per-line text that is a heading: short, no punctuation at
    its end, and the next line a paragraph, starting as a sentence does and much
    longer (a short line before another as short is verse, not a heading)."""
    line, following = line.strip(), following.strip()
    return (
        len(line) <= _MAX_HEADING_CHARS
        and len(line.split()) <= _MAX_HEADING_WORDS
        and line[0] not in "\"'“‘«(-–—"
        and not _TERMINAL.search(line)
        and len(following) >= min(2 * len(line), _MAX_HEADING_CHARS)
        and _STARTS_CAPITAL.match(following) is not None
    )


def _paragraph_per_line(lines: list[str]) -> list[tuple[int, int, bool]] | None:
    """The paragraphs of a block of lines without blank lines between them, when it is a
    text with one paragraph per line (as many exported texts are), else None: it is
    hard-wrapped prose, one paragraph, read as it always was.

    The paragraphs come as (first line, last line, is a heading).  The layout is one
    paragraph per line when some line is longer than any hard wrap, when at most one
    line in :data:`_OPEN_LINES` ends mid-sentence (hard-wrapped prose ends most of
    its lines so), and when some line holds more than one sentence or is a heading
    (one sentence per line, "semantic line breaks", and verse stay one paragraph).
    In it, a short line without punctuation at its end before a longer line is a
    heading; a line that ends mid-sentence goes on in the next line.
    """
    lines = [line.strip() for line in lines]
    if len(lines) < 2 or _is_verse(lines) or max(map(len, lines)) <= WRAP_WIDTH:
        return None
    groups: list[tuple[int, int, bool]] = []
    first, headings, open_lines = 0, 0, 0
    for number, line in enumerate(lines):
        following = lines[number + 1] if number + 1 < len(lines) else None
        if following is not None and _open_short_line(line, following):
            if first < number:  # an open line before it ends here
                groups.append((first, number - 1, False))
            groups.append((number, number, True))
            headings += 1
        elif following is None or _ENDS_PARAGRAPH_LINE.search(line):
            groups.append((first, number, False))
        else:
            open_lines += 1
            continue
        first = number + 1
    if open_lines * _OPEN_LINES > len(lines) - 1:
        return None
    if not headings and not any(_INNER_SENTENCE_END.search(line) for line in lines):
        return None
    return groups
