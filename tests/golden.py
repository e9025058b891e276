"""Golden files: the text front-end's cases, one file each, in the manner of psf/black.

Each file in ``tests/data/split/*.txt`` (structure and sentences, run by
``test_split.py``) and ``tests/data/normalize/*.txt`` (normalization, run by
``test_normalize.py``) is one case for :func:`narrator.text.split_text`.
Adding a case means adding a file::

    # xfail: why the front-end gets this case wrong     <- optional header lines
    # language: en_GB                                   <- default: en
    Dr. Smith arrived at 9 a.m. "Is it done?" she asked.
    # output
    sentence|sentence|Doctor Smith arrived at nine AM.
    sentence|end|"Is it done?" she asked.

* Everything above the line ``# output`` is the input, read as UTF-8 with its
  newlines; it may hold Markdown headings (``# Title``), just not a heading
  named "output", nor first lines starting ``# xfail:`` or ``# language:``.
* Every non-empty line below it is one segment, in order, as
  ``KIND|BOUNDARY|TEXT``: the segment's ``kind`` (heading, sentence, item), its
  ``boundary`` (sentence, paragraph, heading, scene, end: what follows it) and
  the ``text`` that is spoken.  TEXT runs to the end of the line and may hold ``|``.
* A header line ``# xfail: REASON`` marks a case the front-end still gets
  wrong: the expected output is what a careful reader wants, and the test is an
  expected failure (strict, so a fix shows up as XPASS-failed).
* A header line ``# language: CODE`` gives the voice language (``en_GB``, ``de``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from narrator.rendering import Boundary
from narrator.text import Kind, Segment

DATA = Path(__file__).parent / "data"
CASES = DATA / "split"
OUTPUT_MARKER = "# output"
XFAIL_PREFIX = "# xfail:"
LANGUAGE_PREFIX = "# language:"


def load_case(path: Path) -> tuple[str, list[str], str | None]:
    """(input text, expected ``KIND|BOUNDARY|TEXT`` lines, xfail reason or None)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    reason = None
    while lines and lines[0].startswith((XFAIL_PREFIX, LANGUAGE_PREFIX)):
        header = lines.pop(0)
        if header.startswith(XFAIL_PREFIX):
            reason = header[len(XFAIL_PREFIX) :].strip()
    markers = [i for i, line in enumerate(lines) if line.rstrip("\n") == OUTPUT_MARKER]
    assert len(markers) == 1, f"{path.name}: needs exactly one line {OUTPUT_MARKER!r}"
    text = "".join(lines[: markers[0]])
    expected = [line.rstrip("\n") for line in lines[markers[0] + 1 :] if line.strip()]
    return text, expected, reason


def case_language(path: Path) -> str:
    """The ``# language:`` header of a golden file, or ``en``."""
    for line in path.read_text(encoding="utf-8").splitlines()[:2]:
        if line.startswith(LANGUAGE_PREFIX):
            return line[len(LANGUAGE_PREFIX) :].strip()
    return "en"


def render(segments: list[Segment]) -> list[str]:
    """Segments as the golden files write them, ``KIND|BOUNDARY|TEXT``."""
    return [f"{s.kind.value}|{s.boundary.value}|{s.text}" for s in segments]


def golden_cases(folder: Path = CASES) -> list[pytest.ParameterSet]:
    """One test parameter (text, language, expected) per golden file in *folder*."""
    params = []
    for path in sorted(folder.glob("*.txt")):
        text, expected, reason = load_case(path)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(text, case_language(path), expected, id=path.stem, marks=marks))
    return params


def check_golden_files(folder: Path, at_least: int) -> None:
    """Assert that *folder* holds at least *at_least* well-formed golden files."""
    paths = sorted(folder.glob("*.txt"))
    assert len(paths) >= at_least
    kinds = {k.value for k in Kind}
    boundaries = {b.value for b in Boundary}
    for path in paths:
        text, expected, _ = load_case(path)
        assert text.strip() and expected, path.name
        for line in expected:
            kind, boundary, spoken = line.split("|", 2)
            assert kind in kinds and boundary in boundaries and spoken, f"{path.name}: {line}"
        assert expected[-1].split("|")[1] == Boundary.END.value, path.name
