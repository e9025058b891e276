"""Benchmark: many books with joe, as a shell loop of `narrator read`, as `narrator batch`,
and as `narrator batch --ray` on a local Ray cluster.

    python benchmarks/bench_batch.py [--books 20] [--minutes 2] [--modes loop,batch,ray]

Generates BOOKS texts of about MINUTES minutes of joe's speech each (seeded, so every run
reads the same texts), then times each mode from start to exit with an empty clip cache
of its own (the optimized ONNX graph of joe is made once beforehand and shared, as a
user's cache would hold it).  Also measured, for the scaling analysis in
docs/benchmarks.md: joe's engine seconds per sentence on one thread, the bytes of a
cached clip, the driver's cost per clip (its cache key and the atomic cache write), and
the mastering seconds per book (batch's per-book ``elapsed``, every clip a cache hit).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 160
"""About how fast joe reads plain prose."""

SUBJECTS = [
    "The old miller",
    "A young clerk",
    "The river",
    "Her brother",
    "The committee",
    "Nobody in the village",
    "The last train",
    "A grey cat",
    "The doctor",
    "We",
]
VERBS = [
    "watched",
    "remembered",
    "carried",
    "followed",
    "counted",
    "painted",
    "forgot",
    "described",
    "repaired",
    "questioned",
]
OBJECTS = [
    "the lanterns along the harbour",
    "a letter from the capital",
    "every stone of the bridge",
    "the long road to the north",
    "the numbers in the ledger",
    "a song about the winter",
    "the clocks in the tower",
    "the smallest boat in the bay",
]
ENDINGS = [
    "before the rain came",
    "without a word",
    "until the evening",
    "for the third time",
    "as the bells rang",
    "while the others slept",
    "in the grey morning light",
]


def make_texts(folder: Path, books: int, minutes: float) -> list[Path]:
    rng = random.Random(15)
    paths = []
    for number in range(1, books + 1):
        words = 0
        paragraphs = [f"# Book {number}"]
        while words < minutes * WORDS_PER_MINUTE:
            sentences = []
            for _ in range(rng.randint(3, 6)):
                sentence = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
                if rng.random() < 0.6:
                    sentence += f" {rng.choice(ENDINGS)}"
                sentences.append(sentence + ".")
                words += len(sentence.split())
            paragraphs.append(" ".join(sentences))
        path = folder / f"book-{number:02d}.txt"
        path.write_text("\n\n".join(paragraphs) + "\n")
        paths.append(path)
    return paths


def fresh_cache(base: Path, models: Path, name: str) -> Path:
    cache = base / name
    cache.mkdir()
    (cache / "models").symlink_to(models, target_is_directory=True)
    return cache


def run(command: list[str] | str, cache: Path, shell: bool = False) -> tuple[float, str]:
    env = {**os.environ, "NARRATOR_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(command, shell=shell, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {command}\n{done.stderr[-3000:]}")
    return wall, done.stdout


def micro(models: Path, base: Path) -> dict[str, float]:
    """Per-sentence costs measured in this process."""
    os.environ["NARRATOR_CACHE_DIR"] = str(fresh_cache(base, models, "micro"))
    os.environ["NARRATOR_ENGINE_THREADS"] = "1"
    import numpy as np

    from narrator.cache import ClipCache, clip_key
    from narrator.engines import load_engine
    from narrator.voices import load_voice

    engine = load_engine(load_voice("joe"), device="cpu")
    rng = random.Random(1)
    sentences = [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}."
        for _ in range(20)
    ]
    engine.synthesize(sentences[0])
    started = time.perf_counter()
    clips = [engine.synthesize(s) for s in sentences]
    engine_s = (time.perf_counter() - started) / len(sentences)
    audio_s = sum(len(c) for c in clips) / engine.sample_rate / len(clips)
    cache = ClipCache()
    identity = {"engine": engine.describe(), "threads": 1}
    started = time.perf_counter()
    for index, clip in enumerate(clips * 5):
        cache.put(clip_key(f"{index} {sentences[index % 20]}", identity), clip)
    driver_s = (time.perf_counter() - started) / (len(clips) * 5)
    engine.close()
    return {
        "engine_s_per_sentence": engine_s,
        "audio_s_per_sentence": audio_s,
        "clip_bytes": float(np.mean([len(c) * 4 + 36 for c in clips])),
        "driver_s_per_clip": driver_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--books", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--modes", default="loop,batch,ray")
    args = parser.parse_args()
    narrator = [sys.executable, "-m", "narrator"]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:
        base = Path(folder)
        texts = base / "texts"
        texts.mkdir()
        paths = make_texts(texts, args.books, args.minutes)
        models = base / "models"
        models.mkdir()
        # joe's optimized graph, made once and shared (a user's cache holds it already)
        run(
            [*narrator, "read", str(paths[0]), "-v", "joe", "-o", str(base / "warm.mp3"), "-q"],
            fresh_cache(base, models, "warm"),
        )
        results: dict[str, object] = {
            "books": args.books,
            "minutes": args.minutes,
            "cores": os.cpu_count(),
        }
        for mode in args.modes.split(","):
            out = base / f"out-{mode}"
            out.mkdir()
            cache = fresh_cache(base, models, f"cache-{mode}")
            if mode == "loop":
                loop = " ".join(
                    f"{' '.join(narrator)} read {p} -v joe -o {out / (p.stem + '.mp3')} -q;"
                    for p in paths
                )
                wall, _ = run(loop, cache, shell=True)
            else:
                ray = ["--ray="] if mode == "ray" else []
                wall, stdout = run(
                    [
                        *narrator,
                        "batch",
                        *ray,
                        str(texts),
                        "-v",
                        "joe",
                        "-o",
                        str(out),
                        "-q",
                        "--json",
                    ],
                    cache,
                )
                lines = [json.loads(line) for line in stdout.splitlines()]
                total = lines[-1]
                results[f"{mode}_audio_hours"] = total["audio_seconds"] / 3600
                results[f"{mode}_sentences"] = total["sentences"]
                results[f"{mode}_mastering_s_per_book"] = sum(
                    line["elapsed"] for line in lines[:-1]
                ) / len(lines[:-1])
            results[f"{mode}_wall_s"] = wall
            print(f"{mode}: {wall:.1f} s", flush=True)
        results.update(micro(models, base))
        shutil.rmtree(base / "micro", ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
