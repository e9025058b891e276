"""Benchmark: the text front-end's speed, in characters per second.

    python benchmarks/bench_text.py [TEXT] [--size BYTES] [--runs N] [--language CODE]

Without TEXT it times a generated, seeded megabyte of prose with Markdown
headings, lists and scene breaks, in which --numbers of the words are numbers,
dates, money, abbreviations or emoji;
with TEXT it repeats that file up to --size characters.  It reports the whole
front-end (:func:`narrator.text.prepare`: structure, sentences, normalization,
chunks and the nothing-lost audit) and, for scale, how long the result would
take to speak at Piper's usual pace.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHARS_PER_SPOKEN_SECOND = 15.0
"""About how many characters of text a voice speaks per second."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path, help="a text file to repeat")
    parser.add_argument("--size", type=int, default=1 << 20, help="characters (default 1 MiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--language", default="en_US")
    parser.add_argument(
        "--numbers", type=float, default=0.03,
        help="share of generated words that are numbers, dates, money, ... "
             "(default 0.03, as in prose; 0.3 for a number-heavy text)",
    )  # fmt: skip
    args = parser.parse_args()

    from narrator.text import prepare
    from tests.test_nothing_lost import generated_text

    if args.text:
        sample = args.text.read_text("utf-8")
        text = (sample * (args.size // max(1, len(sample)) + 1))[: args.size]
    else:
        text = generated_text(args.size, numbers=args.numbers)
    prepare(text[:10_000], language=args.language)  # warm up: imports, Punkt, num2words
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        script = prepare(text, language=args.language)
        times.append(time.perf_counter() - started)
    best, median = min(times), statistics.median(times)
    spoken = sum(len(s.text) for s in script.segments)
    print(f"input:     {len(text):,} characters, {len(script.segments):,} segments, "
          f"{len(script.omissions):,} omissions")  # fmt: skip
    print(f"front-end: best {best:.2f} s, median {median:.2f} s over {args.runs} runs")
    print(f"speed:     {len(text) / best:,.0f} characters per second")
    print(f"speech:    about {spoken / CHARS_PER_SPOKEN_SECOND / 3600:.1f} hours of audio, so the "
          f"front-end costs {best / (spoken / CHARS_PER_SPOKEN_SECOND) * 100:.3f}% of "
          f"real time")  # fmt: skip


if __name__ == "__main__":
    main()
