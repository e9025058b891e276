"""Benchmark: long-form narration - flat memory, cached re-runs, parallel jobs.

    python benchmarks/bench_longform.py [rss|rerun|jobs|all] [--no-write] [--code LABEL]

rss    Peak resident memory of ``narrator read`` on the sample story (about 3 minutes
       of audio) and on the same text repeated to about 60 minutes: once with every
       sentence synthesized (``--no-cache``), once with every clip from a warm cache
       (the engine idle: the memory of the rest of the pipeline).  Target: the ratio
       is at most 1.3.
rerun  Wall time of a first ``narrator read`` of a 500-sentence text, and of the
       re-run after one sentence changed (same clip cache).  Target: the re-run
       takes at most 5 % of the first run.
jobs   Real-time factor (wall time / audio time) of ``narrator read`` with
       ``--jobs 1`` and ``--jobs 2`` on about 5 minutes of text (``--no-cache``), and
       ``--jobs 4``, ``8`` and ``16`` where the machine has that many cores.

Every narration runs the ``narrator`` command in a process of its own, started by a
fresh helper process that reports the peak RSS of its children
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and the wall time.  Runs that are not about
the cache synthesize every sentence (``--no-cache``, or an empty cache).  The output is
MP3, the default.
Results are printed and appended to the tables in ``docs/benchmarks.md``, with the
date, the machine and the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORY = ROOT / "samples" / "the-reading-machine.md"
DOC = ROOT / "docs" / "benchmarks.md"

BOOK_MINUTES = 60.0
STORY_MINUTES = 2.83
"""The sample story's length with joe (2:50); it sets how many copies make a book."""

RSS_RATIO_TARGET = 1.3
RERUN_RATIO_TARGET = 0.05
RERUN_SENTENCES = 500
JOBS_MINUTES = 5.0

_HELPER = """\
import json, resource, subprocess, sys, time
began = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - began
print(json.dumps({"rc": done.returncode, "wall": wall,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stdout": done.stdout.decode(errors="replace"),
                  "stderr": done.stderr.decode(errors="replace")[-4000:]}))
"""


@dataclass
class Run:
    """One ``narrator read`` process."""

    wall: float
    """Seconds, from start to exit (import, model load, synthesis, mastering)."""

    peak_rss_mb: float
    """Peak resident memory of the largest process in the run (narrator itself), MiB."""

    summary: dict[str, object]
    """The ``--json`` summary."""

    load: tuple[float, float]
    """1-minute load average before and after."""

    @property
    def duration(self) -> float:
        return float(self.summary["duration"])  # type: ignore[arg-type]

    @property
    def rtf(self) -> float:
        return self.wall / self.duration


def narrate(
    text: Path, output: Path, cache: Path, *extra: str, env: dict[str, str] | None = None
) -> Run:
    """Run ``narrator read TEXT -o OUTPUT --json`` in a fresh helper process."""
    command = [sys.executable, "-m", "narrator", "read", str(text), "-o", str(output),
               "--json", "-q", *extra]  # fmt: skip
    environment = {**os.environ, "NARRATOR_CACHE_DIR": str(cache), **(env or {})}
    before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", _HELPER, *command], env=environment, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    after = os.getloadavg()[0]
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"narrator failed ({result['rc']}):\n{result['stderr']}")
    return Run(result["wall"], result["maxrss_kb"] / 1024, json.loads(result["stdout"]),
               (before, after))  # fmt: skip


def machine() -> str:
    """``N cores, CPU model`` from /proc/cpuinfo."""
    model = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if found:
            model = found.group(1).strip()
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def code_version() -> str:
    """The commit measured: ``git rev-parse --short HEAD``, with ``+`` when narrator/ has
    uncommitted changes."""

    def git(*args: str) -> str:
        command = ["git", "-C", str(ROOT), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "narrator")
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+" if dirty else "")


CODE = "?"
"""What :func:`code_version` found, or ``--code``; set in :func:`main`."""


def today() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def load(run: Run) -> str:
    return f"{run.load[0]:.1f} / {run.load[1]:.1f}"


def clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


# (a) Peak memory


def bench_rss(folder: Path) -> list[list[str]]:
    """Two rows: every sentence synthesized (``--no-cache``), then every clip taken from a
    warm cache, which leaves the engine idle and measures the rest of the pipeline."""
    copies = max(1, round(BOOK_MINUTES / STORY_MINUTES))
    story = STORY.read_text("utf-8")
    book = folder / "book.md"
    book.write_text("\n\n".join([story.strip()] * copies) + "\n", "utf-8")
    warm = folder / "cache-warm"
    rows = []
    for mode, extra in (("synthesized", ["--no-cache"]), ("from the cache", [])):
        print(f"rss, {mode}: the sample story, then {copies} copies of it ...", flush=True)
        if not extra:
            narrate(STORY, folder / "fill.mp3", warm)  # fills the cache for both texts
        short = narrate(STORY, folder / "story.mp3", warm, *extra)
        print(f"  story: {clock(short.duration)} of audio, peak RSS {short.peak_rss_mb:.0f} "
              f"MiB, {short.wall:.0f} s", flush=True)  # fmt: skip
        long = narrate(book, folder / "book.mp3", warm, *extra)
        ratio = long.peak_rss_mb / short.peak_rss_mb
        print(f"  book:  {clock(long.duration)} of audio, peak RSS {long.peak_rss_mb:.0f} "
              f"MiB, {long.wall:.0f} s", flush=True)  # fmt: skip
        verdict = "meets" if ratio <= RSS_RATIO_TARGET else "MISSES"
        print(f"  ratio {ratio:.2f} ({verdict} the target <= {RSS_RATIO_TARGET})")
        rows.append([today(), machine(), CODE, mode, clock(short.duration),
                     f"{short.peak_rss_mb:.0f} MiB", clock(long.duration),
                     f"{long.peak_rss_mb:.0f} MiB", f"{long.wall:.0f} s", f"**{ratio:.2f}**",
                     "yes" if ratio <= RSS_RATIO_TARGET else "**no**",
                     f"{load(short)}; {load(long)}"])  # fmt: skip
    return rows


# (b) Re-run after an edit


_SUBJECTS = [
    "The keeper",
    "A fisherman",
    "The old captain",
    "Her brother",
    "The baker",
    "A young clerk",
    "The teacher",
    "My neighbour",
    "The stranger",
    "The doctor",
    "A tired soldier",
    "The gardener",
    "Our landlady",
    "The mayor",
    "A small boy",
]
_VERBS = [
    "carried",
    "painted",
    "found",
    "mended",
    "sold",
    "counted",
    "hid",
    "opened",
    "followed",
    "watched",
    "cleaned",
    "described",
    "remembered",
    "forgot",
    "lifted",
]
_OBJECTS = [
    "a wooden box",
    "the brass lamp",
    "an empty basket",
    "the blue door",
    "a folded letter",
    "the heavy nets",
    "a silver spoon",
    "the broken clock",
    "an old map",
    "the garden gate",
    "a loaf of bread",
    "the narrow boat",
]
_PLACES = [
    "near the harbour",
    "behind the chapel",
    "in the cold kitchen",
    "on the hill",
    "beside the river",
    "at the market",
    "under the bridge",
    "in the attic",
    "by the station",
    "across the square",
]
_TIMES = ["before dawn", "after supper", "on Sunday", "in the rain", "at noon",
          "late in the evening", "during the storm", "every morning"]  # fmt: skip


def sentences(count: int, seed: int = 5) -> list[str]:
    """*count* different, plain sentences, the same on every run."""
    rng = random.Random(seed)
    made: list[str] = []
    seen: set[str] = set()
    while len(made) < count:
        sentence = (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                    f"{rng.choice(_PLACES)} {rng.choice(_TIMES)}.")  # fmt: skip
        if sentence not in seen:
            seen.add(sentence)
            made.append(sentence)
    return made


def paragraphs(lines: list[str], size: int = 6) -> str:
    return "\n\n".join(" ".join(lines[i : i + size]) for i in range(0, len(lines), size)) + "\n"


def bench_rerun(folder: Path) -> list[list[str]]:
    """The first run and the re-run after an edit, to MP3 (the default) and to WAV.

    WAV shows what the cache saves without the MP3 encoder, whose time grows with the
    audio whatever the cache holds.
    """
    lines = sentences(RERUN_SENTENCES)
    edited = list(lines)
    edited[RERUN_SENTENCES // 2] = "The lighthouse keeper wrote one new line in the log."
    rows = []
    for suffix in ("mp3", "wav"):
        text = folder / f"five-hundred-{suffix}.txt"
        text.write_text(paragraphs(lines), "utf-8")
        cache = folder / f"cache-rerun-{suffix}"
        print(f"rerun: {RERUN_SENTENCES} sentences to {suffix}, first run ...", flush=True)
        first = narrate(text, folder / f"first.{suffix}", cache)
        print(f"  first: {first.wall:.1f} s for {clock(first.duration)} of audio "
              f"({first.summary['synthesized']} synthesized)", flush=True)  # fmt: skip
        text.write_text(paragraphs(edited), "utf-8")
        again = narrate(text, folder / f"again.{suffix}", cache)
        ratio = again.wall / first.wall
        print(f"  re-run: {again.wall:.1f} s ({again.summary['synthesized']} synthesized, "
              f"{again.summary['cache_hits']} from the cache)")  # fmt: skip
        verdict = "meets" if ratio <= RERUN_RATIO_TARGET else "MISSES"
        print(f"  ratio {ratio:.1%} ({verdict} the target <= {RERUN_RATIO_TARGET:.0%})")
        rows.append([today(), machine(), CODE, suffix.upper(), clock(first.duration),
                     f"{first.wall:.1f} s", f"{again.wall:.1f} s",
                     f"{again.summary['synthesized']} / {again.summary['cache_hits']}",
                     f"**{ratio:.1%}**", "yes" if ratio <= RERUN_RATIO_TARGET else "**no**",
                     f"{load(first)}; {load(again)}"])  # fmt: skip
    return rows


# (c) Jobs


def bench_jobs(folder: Path) -> list[list[str]]:
    copies = max(1, round(JOBS_MINUTES / STORY_MINUTES))
    text = folder / "five-minutes.md"
    text.write_text("\n\n".join([STORY.read_text("utf-8").strip()] * copies) + "\n", "utf-8")
    rows = []
    one = {"NARRATOR_ENGINE_THREADS": "1"}
    settings: list[tuple[str, list[str], dict[str, str]]] = [
        ("--jobs 1", ["--jobs", "1"], {}),
        ("--jobs 2", ["--jobs", "2"], {}),
        ("--jobs 1, NARRATOR_ENGINE_THREADS=1", ["--jobs", "1"], one),
        ("--jobs 2, NARRATOR_ENGINE_THREADS=1", ["--jobs", "2"], one),
    ]  # fmt: skip
    # More workers where there are cores for them.
    cores = os.cpu_count() or 1
    settings += [(f"--jobs {n}", ["--jobs", str(n)], {}) for n in (4, 8, 16) if n <= cores]
    for label, args, env in settings:
        slug = re.sub(r"\W+", "-", label).strip("-")
        # --no-cache: the second copy would otherwise come from the cache.
        run = narrate(text, folder / f"{slug}.mp3", folder / "cache", "--no-cache", *args, env=env)
        print(f"jobs: {label}: {run.wall:.1f} s for {clock(run.duration)} of audio, "
              f"real-time factor {run.rtf:.3f}", flush=True)  # fmt: skip
        rows.append([today(), machine(), CODE, label, clock(run.duration),
                     f"{run.wall:.1f} s", f"**{run.rtf:.3f}**", f"{run.summary['rtf']:.3f}",
                     load(run)])  # fmt: skip
    return rows


# docs/benchmarks.md


def append_rows(section: str, rows: list[list[str]]) -> None:
    """Add *rows* to the table between ``<!-- SECTION:begin -->`` and ``<!-- SECTION:end -->``."""
    text = DOC.read_text("utf-8")
    end = f"<!-- {section}:end -->"
    if end not in text:
        raise SystemExit(f"{DOC}: no {end} marker")
    lines = "".join("| " + " | ".join(row) + " |\n" for row in rows)
    DOC.write_text(text.replace(end, lines + end), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="all", choices=["rss", "rerun", "jobs", "all"])
    parser.add_argument("--no-write", action="store_true", help="Do not update docs/benchmarks.md.")
    parser.add_argument(
        "--code", metavar="LABEL", help="Label of the code measured. [default: the git commit]"
    )
    args = parser.parse_args()
    global CODE
    CODE = args.code or code_version()
    chosen = ["rss", "rerun", "jobs"] if args.which == "all" else [args.which]
    print(f"machine: {machine()}; code: {CODE}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-longform-") as name:
        folder = Path(name)
        for which in chosen:
            if which == "rss":
                rows = bench_rss(folder)
            elif which == "rerun":
                rows = bench_rerun(folder)
            else:
                rows = bench_jobs(folder)
            if not args.no_write:
                append_rows(which, rows)
    if not args.no_write:
        print(f"results appended to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
