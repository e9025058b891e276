"""Benchmark: peak memory of one segment far longer than an engine chunk (issue 11, item 6).

    python benchmarks/bench_segment.py [fake|joe|word] [CHARACTERS] [--format wav|mp3]

``fake`` and ``joe`` narrate CHARACTERS of words without a single sentence end (one
segment of many chunks) with the test suite's fake engine (16 kHz tones, no model in
memory) or the joe voice; ``word`` narrates one word of CHARACTERS letters with joe.
``--sentences`` puts a full stop after every tenth word instead, for the same text
read as ordinary sentences.  Each narration runs in a process of its own, without
the clip cache; the peak RSS of that process (``RUSAGE_CHILDREN``) is printed with
the audio's length and the wall time.  Results go into ``docs/benchmarks.md`` by hand.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa "

CHILD = """
import sys
from narrator import narrate
from narrator.engines import register_engine
from narrator.voices import Voice
from tests.fake_engine import FakeEngine

kind, text, output = sys.argv[1], sys.stdin.read(), sys.argv[2]
voice = "joe"
if kind == "fake":
    register_engine("fake", FakeEngine)
    voice = Voice("fake", "fake", "tone", "en", "a tone")
result = narrate(text, output, voice=voice, cache=False)
print(f"{result.duration:.0f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["fake", "joe", "word"], nargs="?", default="fake")
    parser.add_argument("characters", type=int, nargs="?", default=50_000)
    parser.add_argument("--format", choices=["wav", "mp3"], default="wav")
    parser.add_argument("--sentences", action="store_true")
    args = parser.parse_args()
    if args.kind == "word":
        text = "a" * args.characters + "\n"
    else:
        text = (WORDS * (args.characters // len(WORDS) + 1))[: args.characters]
        text = text.rsplit(" ", 1)[0] + "\n"
        if args.sentences:
            text = text.replace("kappa alpha", "kappa. Alpha")
    output = Path(f"/tmp/bench-segment.{args.format}")
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "fake" if args.kind == "fake" else "joe", str(output)],
        input=text, capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(f"{args.kind}, {args.characters} characters, {args.format}: "
          f"{done.stdout.strip()} s of audio, peak RSS {peak} MiB, {wall:.0f} s")  # fmt: skip
    output.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
