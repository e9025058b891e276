"""Benchmark: `narrator read --stream`, time to the first audio byte and keeping ahead.

    python benchmarks/bench_stream.py [--runs N] [--voice joe] [--format pcm]

Each run starts a whole ``narrator read - -o - --stream`` process (Python start-up,
imports, model load, synthesis, mastering, encoding) with a one-sentence text on its
standard input and times, from the moment the process is started, the first byte on
its standard output.  Two cases:

- *first use*: an empty cache, so the voice's loudness is measured first (once per
  voice: a calibration text is spoken before the text itself);
- *usual*: the voice's loudness is in the cache; the text is new each run (no clip
  of it is cached); with a format other than pcm, each such run is followed by one of
  the whole-file path (``--no-stream``) on a new text too, for comparison under the
  same load.

Then one longer text (the sample story's first 12 paragraphs): for each chunk of audio
that arrives, whether it arrived before the audio already delivered would have finished
playing, had playback started with the first byte (the stream *keeps ahead* when it
always did), and the smallest such margin.  The CPU seconds of the usual runs (the
whole process, user and system) tell what the first byte costs on an idle machine,
whatever the load on a shared one.  Results are printed; paste them into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORY = ROOT / "samples" / "the-reading-machine.md"
SENTENCES = [
    "The lamp in the window burned until morning.",
    "Nobody knew who had left the gate open.",
    "A small boat rocked against the pier.",
    "The letter arrived three days too late.",
    "She counted the steps to the top of the tower.",
    "Rain had soaked the maps on the table.",
    "He whistled an old tune on the way home.",
    "The station clock had stopped at noon.",
]


def first_byte(
    text: str, args: list[str], cache: Path, stream: bool = True
) -> tuple[float, float, bytes]:
    """(seconds to the first byte on stdout, seconds to the end, all the bytes); with
    *stream* False, the whole-file path (``--no-stream``) for comparison."""
    env = {**os.environ, "NARRATOR_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "narrator", "read", "-", "-o", "-",
                                "--stream" if stream else "--no-stream", "--quiet", *args],
                               stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=env)  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(text.encode())
    process.stdin.close()
    fd = process.stdout.fileno()
    first = os.read(fd, 1 << 16)
    at = time.perf_counter() - started
    rest = [first]
    while chunk := os.read(fd, 1 << 16):
        rest.append(chunk)
    if process.wait() != 0:
        raise SystemExit(f"narrator failed ({process.returncode})")
    return at, time.perf_counter() - started, b"".join(rest)


def keeps_ahead(text: str, voice: str, cache: Path) -> tuple[bool, float, float, float]:
    """PCM stream of *text*: (kept ahead, smallest margin s, audio s, wall s)."""
    env = {**os.environ, "NARRATOR_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "narrator", "read", "-", "-o", "-",
                                "--stream", "--format", "pcm", "--quiet", "--voice", voice,
                                "--verbose"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    process.stdin.write(text.encode())
    process.stdin.close()
    fd = process.stdout.fileno()
    arrivals: list[tuple[float, int]] = []
    total = 0
    while chunk := os.read(fd, 1 << 16):
        arrivals.append((time.perf_counter() - started, total))
        total += len(chunk)
    process.wait()
    line = next(x for x in process.stderr.read().decode().splitlines() if "Hz" in x)
    rate = int(line.rsplit(" ", 2)[-2])
    start = arrivals[0][0]
    margins = [start + before / 2 / rate - at for at, before in arrivals[1:]]
    wall = time.perf_counter() - started
    return min(margins, default=0.0) >= 0, min(margins, default=0.0), total / 2 / rate, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--voice", default="joe")
    parser.add_argument("--format", default="pcm")
    options = parser.parse_args()
    args = ["--voice", options.voice, "--format", options.format]
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        firsts, usual, ends, whole, cpus = [], [], [], [], []
        for run in range(options.runs):
            fresh = cache / f"fresh-{run}"
            firsts.append(first_byte(SENTENCES[run % len(SENTENCES)], args, fresh)[0])
        warm = cache / "warm"
        first_byte("Warm up.", args, warm)  # measures the voice once
        for run in range(options.runs):
            text = f"{SENTENCES[run % len(SENTENCES)]} ({run})"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            at, end, _data = first_byte(text, args, warm)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            usual.append(at)
            ends.append(end)
            if options.format != "pcm":  # (the whole-file path has no raw PCM)
                whole.append(first_byte(text + " again", args, warm, stream=False)[0])
        story = "\n\n".join(STORY.read_text().split("\n\n")[:12])
        ahead, margin, audio, wall = keeps_ahead(story, options.voice, warm)
    print(f"voice {options.voice}, format {options.format}, {options.runs} runs")
    print(f"first byte, first use:  median {statistics.median(firsts):.3f} s "
          f"(range {min(firsts):.3f}-{max(firsts):.3f})")  # fmt: skip
    end, cpu = statistics.median(ends), statistics.median(cpus)
    print(f"first byte, usual:      median {statistics.median(usual):.3f} s "
          f"(range {min(usual):.3f}-{max(usual):.3f}); process end {end:.3f} s, "
          f"{cpu:.2f} CPU s")  # fmt: skip
    if whole:
        print(f"first byte, --no-stream: median {statistics.median(whole):.3f} s "
              f"(range {min(whole):.3f}-{max(whole):.3f})")  # fmt: skip
    print(f"longer text: {audio:.1f} s of audio in {wall:.1f} s; kept ahead: {ahead} "
          f"(smallest margin {margin:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
