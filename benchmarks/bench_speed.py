"""Benchmark: does the speech follow ``speed``?  Asked speed against measured ratio.

    python benchmarks/bench_speed.py [--voice joe] [--coqui] [--before]

Speaks :data:`TEXTS` (not the calibration text) with a voice made deterministic (noise
options 0) at each speed, and prints the ratio of the speech's length at speed 1 to its
length at that speed, the speech being each clip trimmed as narrator trims it
(:func:`narrator.engines.speed.speech_seconds`), summed over the sentences.  ``--before``
sets the model's length scale to 1 / speed as narrator did before calibration.
``--coqui`` uses the tiny random-weight VITS of the tests (character input) instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from narrator.engines import load_engine, speed  # noqa: E402
from narrator.voices import load_voice  # noqa: E402

SPEEDS = (0.8, 1.2, 1.5, 2.0, 3.0)
TEXTS = (
    "Dr. Morgan said, quietly: we have three hours, perhaps four, before the tide turns.",
    "The committee approved the budget of 4.2 million dollars on Tuesday, after a long debate.",
    "Install the package, open a terminal, and run the command with the output option.",
    "She laughed. It was, after all, the strangest thing that had happened all year!",
    "Why would anyone build a house on the edge of a cliff?",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voice", default="joe")
    parser.add_argument("--coqui", action="store_true")
    parser.add_argument("--before", action="store_true")
    args = parser.parse_args()
    if args.before:
        speed.calibrate = lambda speak, s, rate, name="": speed.Rate(1 / s, 1.0, rate)
        import narrator.engines.coqui as coqui

        coqui.calibrate = speed.calibrate
    if args.coqui:
        sys.path.insert(0, str(ROOT / "tests"))
        from coqui_models import build_vits

        folder = build_vits(Path(tempfile.mkdtemp()) / "tiny")
        options = {"noise_scale": 0.0, "noise_scale_dp": 0.0}
        voice = load_voice("joe")
        voice = replace(voice, name="tiny-vits", engine="coqui", model=str(folder))
    else:
        voice = load_voice(args.voice)
        options = {"noise_scale": 0.0, "noise_w_scale": 0.0}
    voice = replace(voice, options=options)
    reference = 0.0
    print("| asked | measured | error | model's scale | stretch | load s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for asked in (1.0, *SPEEDS):
        start = time.perf_counter()
        engine = load_engine(voice.with_options(speed=asked), device="cpu")
        loaded = time.perf_counter() - start
        length = sum(speed.speech_seconds(engine.synthesize(t), engine.sample_rate) for t in TEXTS)
        reference = reference or length
        rate = engine._rate  # noqa: SLF001 - what the engine chose
        ratio = reference / length
        print(f"| {asked:g} | {ratio:.3f} | {ratio / asked - 1:+.1%} | {rate.scale:.3f} | "
              f"{rate.stretch:.3f} | {loaded:.2f} |", flush=True)  # fmt: skip
        engine.close()


if __name__ == "__main__":
    main()
