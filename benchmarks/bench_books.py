"""Benchmark: reading a 300-page EPUB against the same text as a plain file.

    python benchmarks/bench_books.py [--pages 300] [--runs 3]

Generates a seeded book of --pages pages (300 words a page, 30 chapters, with a
title page and headings), writes it once as an EPUB 3 (zip + XHTML, as
tests/epubs.py makes them) and once as Markdown, and for each, in a fresh process
(so that the peak memory is that input's own), times ``narrator.books.load()``
(parse) and ``split_text()`` (split) and reports the peak resident memory.  For
scale it prints how long the default voice (heart, real-time factor 0.024 on this
kind of machine, README "Performance") would take to speak the book.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS_PER_PAGE = 300
CHAPTERS = 30
HEART_RTF = 0.024
"""Seconds of work per second of audio of the default voice (README, Performance)."""

_WORDS = (  # noqa: SIM905
    "the keeper climbed stairs at dusk harbour light was his to tend and he watched sea "
    "while gulls followed wake of ferry that morning glass fell all afternoon storm came "
    "in from west lamp held through night village slept under roofs of slate"
).split()


def book(pages: int, seed: int = 1) -> list[tuple[str, list[str]]]:
    """Chapters of generated prose: (title, paragraphs)."""
    rng = random.Random(seed)
    words = pages * WORDS_PER_PAGE
    per_chapter = words // CHAPTERS
    chapters = []
    for number in range(1, CHAPTERS + 1):
        paragraphs, left = [], per_chapter
        while left > 0:
            sentences = []
            for _ in range(rng.randint(3, 6)):
                count = rng.randint(8, 20)
                sentence = " ".join(rng.choice(_WORDS) for _ in range(count))
                sentences.append(sentence[0].upper() + sentence[1:] + ".")
                left -= count
            paragraphs.append(" ".join(sentences))
        chapters.append((f"Chapter {number}", paragraphs))
    return chapters


def write_inputs(folder: Path, pages: int) -> tuple[Path, Path]:
    from tests.epubs import plain_epub

    chapters = book(pages)
    bodies = [
        f"<h1>{title}</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
        for title, paragraphs in chapters
    ]
    epub = plain_epub(folder / "book.epub", bodies, title="Generated")
    markdown = folder / "book.md"
    markdown.write_text(
        "\n\n".join(f"# {title}\n\n" + "\n\n".join(paragraphs) for title, paragraphs in chapters)
        + "\n"
    )
    return epub, markdown


def measure(path: Path, runs: int) -> dict[str, float]:
    """In this process: parse and split *path* *runs* times; the best times and the peak."""
    from narrator.books import load
    from narrator.text import split_text

    parse, split = [], []
    segments = 0
    for _ in range(runs):
        started = time.perf_counter()
        document = load(path)
        parsed = time.perf_counter()
        segments = len(split_text(document.text, language="en_US"))
        split.append(time.perf_counter() - parsed)
        parse.append(parsed - started)
    words = len(document.text.split())
    return {
        "parse": min(parse), "parse_median": statistics.median(parse), "split": min(split),
        "segments": segments, "words": words,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.runs)))
        return
    with tempfile.TemporaryDirectory() as folder:
        epub, markdown = write_inputs(Path(folder), args.pages)
        results = {}
        for path in (epub, markdown):
            done = subprocess.run(
                [sys.executable, __file__, "--measure", str(path), "--runs", str(args.runs)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[path.suffix] = json.loads(done.stdout.strip().splitlines()[-1])
        sizes = {p.suffix: p.stat().st_size for p in (epub, markdown)}
    from narrator.books.chapters import words_per_minute

    words = results[".md"]["words"]
    speech = words / words_per_minute("hibari") * 60
    kib = {suffix: size / 1024 for suffix, size in sizes.items()}
    print(f"book: {args.pages} pages, {words:,} words, {CHAPTERS} chapters; "
          f"EPUB {kib['.epub']:.0f} KiB, Markdown {kib['.md']:.0f} KiB")  # fmt: skip
    for suffix, name in ((".epub", "EPUB"), (".md", "Markdown")):
        r = results[suffix]
        print(f"{name:9} parse {r['parse']:.3f} s (median {r['parse_median']:.3f}), "
              f"split {r['split']:.2f} s, {r['segments']:,} segments, "
              f"peak RSS {r['peak_mib']:.0f} MiB")  # fmt: skip
    work = results[".epub"]["parse"] + results[".epub"]["split"]
    synthesis = speech * HEART_RTF
    share = 100 * work / synthesis
    print(f"speech at heart's pace: {speech / 3600:.1f} h; synthesis at RTF {HEART_RTF}: "
          f"{synthesis:.0f} s; EPUB parse+split = {share:.1f} % of it")  # fmt: skip


if __name__ == "__main__":
    main()
