"""Benchmark: real-time factor of a full-size Coqui VITS through narrator's coqui engine.

    python benchmarks/bench_coqui.py [TEXT] [--sentences N] [--devices cpu,cuda]
                                     [--batches 1,8] [--narrate cuda]

Builds a VITS with coqui's default architecture (``VitsConfig()``: 192 hidden channels, six
text-encoder layers, stochastic duration predictor, 512-channel HiFi-GAN decoder) and random
weights, saves it the way coqui's trainer does, loads it through a preset as narration does,
and times ``CoquiEngine.synthesize`` one sentence at a time.  The cost of a forward pass does
not depend on the weights, but the length of the audio does: the duration predictor still
runs (so its cost counts) and its output is then replaced by :data:`FRAMES_PER_TOKEN` frames
per input token, which makes the speech about as long as real narration (VITS puts a blank
between characters: 8 frames, 93 ms, per character, about 11 characters a second).

On each device the sentences are spoken one at a time and, on a GPU, also in batches
(``synthesize_batch``, as narration does there: ``--batches``).  ``--narrate`` then narrates
the whole TEXT with the loaded engine through :func:`narrator.narrate` (stitching, loudness,
MP3), to show what the rest of the pipeline costs next to a fast engine.

Real-time factor = synthesis seconds / audio seconds; below 1 is faster than real time.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_TEXT = ROOT / "samples" / "the-reading-machine.md"
FRAMES_PER_TOKEN = 3.5
"""Rounded up to 4 frames a token, 8 a character: 0.093 s per character at 22.05 kHz."""


class FixedDurations(torch.nn.Module):
    """Wraps a duration predictor: runs it, then gives every token the same duration."""

    def __init__(self, predictor: torch.nn.Module, frames: float) -> None:
        super().__init__()
        self.predictor, self.log_frames = predictor, math.log(frames)

    def forward(self, x: Any, x_mask: Any, *args: Any, **kwargs: Any) -> Any:
        self.predictor(x, x_mask, *args, **kwargs)  # same cost as real inference
        return torch.full_like(x_mask, self.log_frames) * x_mask


def build_full_size_vits(folder: Path) -> Path:
    """Save a default-size VITS with random weights (character input) in *folder*."""
    from trainer.io import copy_model_files, save_checkpoint
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    config = VitsConfig(
        model_args=VitsArgs(init_discriminator=False),
        use_phonemes=False,
        text_cleaner="english_cleaners",
    )
    model = Vits(config)
    copy_model_files(model.config, folder, {})
    save_checkpoint(model.config, model, folder, current_step=1, epoch=0)
    return folder


def sentences(path: Path, count: int) -> list[str]:
    from narrator.text import split_text

    found = [s.text for s in split_text(path.read_text("utf-8"), language="en")]
    return [s for s in found if len(s) > 20][:count]


def load(model_folder: Path, device: str) -> tuple[Any, float]:
    """The benchmark's engine on *device*, with fixed durations, warmed up."""
    from narrator.engines import load_engine
    from narrator.voices import Voice

    voice = Voice(name="bench", engine="coqui", model=str(model_folder), language="en",
                  description="full-size VITS, random weights")  # fmt: skip
    started = time.perf_counter()
    engine = load_engine(voice, device=device)
    seconds = time.perf_counter() - started
    model = engine._model  # the benchmark fixes durations on the loaded model
    model.duration_predictor = FixedDurations(model.duration_predictor, FRAMES_PER_TOKEN)
    engine.synthesize("A warm-up sentence, not timed.")
    return engine, seconds


def bench(engine: Any, texts: list[str], batch: int) -> dict[str, float]:
    """Speak *texts* in groups of *batch* (one at a time when 1)."""
    groups = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    engine.batch_size = batch
    engine.synthesize_batch(groups[0])  # warm-up: a new batch shape
    per_sentence, synthesis, audio = [], 0.0, 0.0
    for group in groups:
        began = time.perf_counter()
        clips = engine.synthesize_batch(group)
        seconds = time.perf_counter() - began
        synthesis += seconds
        per_sentence.append(seconds / len(group))
        audio += sum(len(clip) for clip in clips) / engine.sample_rate
    return {
        "audio": audio,
        "synthesis": synthesis,
        "rtf": synthesis / audio,
        "median_sentence": statistics.median(per_sentence),
    }


def bench_narrate(engine: Any, text: str, folder: Path) -> dict[str, float]:
    """Narrate *text* to MP3 with the loaded *engine*; the whole pipeline's times."""
    from narrator import narrate

    voice = engine._voice
    began = time.perf_counter()
    done = narrate(text, folder / "narration.mp3", voice=voice, engine=engine, cache=False)
    wall = time.perf_counter() - began
    return {
        "audio": done.duration,
        "wall": wall,
        "engine": done.stats.engine_seconds,
        "rtf": wall / done.duration,
        "sentences": done.stats.synthesized,
        "loudness": done.mastered.loudness,
        "peak": done.mastered.true_peak,
    }


def gpu_memory(device: str) -> str:
    if not device.startswith("cuda"):
        return "-"
    return f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--sentences", type=int, default=10)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda is "
                        "skipped when PyTorch finds no GPU")  # fmt: skip
    parser.add_argument("--batches", default="1,8", help="batch sizes tried on a GPU (a CPU "
                        "speaks one sentence at a time, as narration does there)")  # fmt: skip
    parser.add_argument("--narrate", default="cuda", help="devices on which the whole TEXT is "
                        "narrated with the loaded engine ('' for none)")  # fmt: skip
    args = parser.parse_args()
    usable = [d for d in ("cpu", "cuda") if d != "cuda" or torch.cuda.is_available()]
    devices = [d for d in args.devices.split(",") if d in usable]
    narrated = [d for d in args.narrate.split(",") if d in usable]
    texts = sentences(args.text, args.sentences)
    chars = sum(len(t) for t in texts)
    print(f"full-size Coqui VITS (random weights), {len(texts)} sentences, {chars} characters, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")  # fmt: skip
    if "cuda" in usable:
        print(f"cuda: {torch.cuda.get_device_name(0)}")
    print(f"{'device':<8} {'batch':>5} {'load s':>7} {'audio s':>8} {'synth s':>8} "
          f"{'RTF':>7} {'s/sentence':>10} {'GPU memory':>10}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        model = build_full_size_vits(Path(folder) / "model")
        for device in sorted(set(devices) | set(narrated)):
            engine, loaded = load(model, device)
            try:
                batches = [int(b) for b in args.batches.split(",")] if device == "cuda" else [1]
                for batch in batches if device in devices else []:
                    r = bench(engine, texts, batch)
                    memory = gpu_memory(device)
                    print(f"{device:<8} {batch:>5} {loaded:>7.2f} {r['audio']:>8.1f} "
                          f"{r['synthesis']:>8.2f} {r['rtf']:>7.3f} "
                          f"{r['median_sentence']:>10.3f} {memory:>10}", flush=True)  # fmt: skip
                if device in narrated:
                    engine.batch_size = engine._batch_size()
                    n = bench_narrate(engine, args.text.read_text("utf-8"), Path(folder))
                    rest, memory = n["wall"] - n["engine"], gpu_memory(device)
                    print(f"narrate on {device} (batch {engine.batch_size}): "
                          f"{n['sentences']:.0f} sentences, {n['audio']:.1f} s of audio in "
                          f"{n['wall']:.2f} s (RTF {n['rtf']:.3f}); engine {n['engine']:.2f} s, "
                          f"the rest {rest:.2f} s; {n['loudness']:.1f} LUFS, "
                          f"{n['peak']:.1f} dBTP; GPU memory {memory}", flush=True)  # fmt: skip
            finally:
                engine.close()


if __name__ == "__main__":
    main()
