"""Benchmark: mastering in pieces - memory with short pauses, and priority under load.

    python benchmarks/bench_mastering.py rss [--code PATH] [--minutes 8 17 33]
    python benchmarks/bench_mastering.py priority [--code PATH ...] [--rounds N]

rss       Peak resident memory of a narration with ``--sentence-pause 0.3
          --paragraph-pause 0.3 --heading-pause 0.3`` (no pause long enough for the
          old cut rule), MP3 and WAV, for texts of about 8, 17 and 33 minutes.  The
          fake engine of ``tests/`` speaks (a tone whose length follows the text, at
          22.05 kHz), so only the pipeline's own memory shows.
priority  Wall time of ``narrator read`` of the sample story with joe (``--no-cache``),
          MP3 and WAV, on the machine as it is ("idle") and with a busy loop on every
          core ("loaded"), in paired rounds: per round and load, each code tree
          (``--code``: a checkout, or a copy of its ``narrator/`` and ``voices/``, e.g.
          ``git archive bdd14ab narrator voices``) and format in turn.

Every run is a process of its own, started by a helper that reports the peak RSS of
its children and the wall time.  ``--code`` puts that tree first on the path (the
default is this checkout).  Results are printed as Markdown table rows; the
machine's load average is printed with them, since it may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORY = ROOT / "samples" / "the-reading-machine.md"

_HELPER = """\
import json, resource, subprocess, sys, time
began = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - began
print(json.dumps({"rc": done.returncode, "wall": wall, "err": done.stderr.decode()[-500:],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""

_FAKE_RUN = """\
import os, sys
from pathlib import Path
sys.path.append({root!r})  # for tests/, after the code measured
from tests.test_pieces import PRESET, PiperRateEngine
from narrator.engines import register_engine
from narrator import narrate
from narrator.rendering import Rendering
register_engine("fake22", PiperRateEngine)
Path(os.environ["NARRATOR_VOICES_DIR"], "fake22.toml").write_text(PRESET)
text = Path(sys.argv[1]).read_text()
short = Rendering(sentence_pause=0.3, paragraph_pause=0.3, heading_pause=0.3)
done = narrate(text, sys.argv[2], voice="fake22", rendering=short, cache=False)
print(done.duration, done.mastered.pieces, done.mastered.loudness, file=sys.stderr)
"""


_TIMED_READ = """\
import sys, time
from narrator.mastering import pieces
from narrator.cli import main
finish = pieces.PieceMaster.finish
def timed(self, *args, **kwargs):
    began = time.perf_counter()
    try:
        return finish(self, *args, **kwargs)
    finally:
        print("finish", time.perf_counter() - began, file=sys.stderr)
pieces.PieceMaster.finish = timed
sys.argv = ["narrator", *sys.argv[1:]]
main()
"""
"""``narrator`` with the time from the last sentence to the file written (the
mastering's ``finish``) reported on standard error."""


def measure(command: list[str], code: Path, env: dict[str, str] | None = None) -> dict:
    environment = {**os.environ, **(env or {}), "PYTHONPATH": f"{code}:{ROOT}"}
    # (from a folder of no code: python -c and -m put the working folder first)
    out = subprocess.run([sys.executable, "-c", _HELPER, *command], env=environment,
                         capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())  # fmt: skip
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result['err']}")
    return result


def fake_text(minutes: float) -> str:
    """About *minutes* of the fake engine's speech with 0.3 s pauses."""
    sentences = round(minutes * 60 / 2.63)
    line = "Part {} line {} says a few plain words."
    paragraphs = [" ".join(line.format(p, s) for s in range(5)) for p in range(sentences // 5)]
    return "\n\n".join(paragraphs) + "\n"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_rss(code: Path, minutes: list[float]) -> None:
    print("| code | format | audio | pieces | peak RSS | wall | load |")
    print("|---|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        env = {"NARRATOR_CACHE_DIR": f"{folder}/cache", "NARRATOR_VOICES_DIR": folder}
        for length in minutes:
            text = Path(folder, "book.txt")
            text.write_text(fake_text(length))
            for fmt in ("mp3", "wav"):
                out = Path(folder, f"book.{fmt}")
                script = _FAKE_RUN.format(root=str(ROOT))
                result = measure([sys.executable, "-c", script, str(text), str(out)], code, env)
                duration, pieces, _loudness = result["err"].split()[-3:]
                print(f"| {code.name} | {fmt} | {float(duration) / 60:.1f} min | {pieces} | "
                      f"{result['maxrss_kb'] // 1024} MB | {result['wall']:.1f} s | {load()} |",
                      flush=True)  # fmt: skip


def bench_priority(codes: list[Path], rounds: int) -> None:
    print(
        "| round | load | code | MP3 | WAV | MP3 - WAV | MP3 / WAV after the last sentence "
        "| load average |"
    )
    print("|---:|---|---|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        env = {"NARRATOR_CACHE_DIR": f"{folder}/cache"}
        for number in range(1, rounds + 1):
            for loaded in (False, True):
                busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                        for _ in range(os.cpu_count() or 1)] if loaded else []  # fmt: skip
                try:
                    for code in codes:
                        walls, tails = {}, {}
                        for fmt in ("mp3", "wav"):
                            out = Path(folder, f"story.{fmt}")
                            command = [sys.executable, "-c", _TIMED_READ, "read", str(STORY),
                                       "-o", str(out), "--no-cache"]  # fmt: skip
                            result = measure(command, code, env)
                            walls[fmt] = result["wall"]
                            tails[fmt] = float(result["err"].split("finish ")[-1].split()[0])
                        print(f"| {number} | {'loaded' if loaded else 'idle'} | {code.name} | "
                              f"{walls['mp3']:.1f} s | {walls['wav']:.1f} s | "
                              f"{walls['mp3'] - walls['wav']:+.1f} s | "
                              f"{tails['mp3']:.1f} s / {tails['wav']:.1f} s | {load()} |",
                              flush=True)  # fmt: skip
                finally:
                    for process in busy:
                        process.kill()
                        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["rss", "priority"])
    parser.add_argument("--code", type=Path, action="append",
                        help="a tree with narrator/ and voices/")  # fmt: skip
    parser.add_argument("--minutes", type=float, nargs="+", default=[8, 17, 33])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    codes = [path.resolve() for path in args.code or [ROOT]]
    if args.what == "rss":
        for code in codes:
            bench_rss(code, args.minutes)
    else:
        bench_priority(codes, args.rounds)


if __name__ == "__main__":
    main()
