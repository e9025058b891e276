"""Benchmark: real-time factor of a full-size Coqui VITS through narrator's coqui engine.

    python benchmarks/bench_coqui.py [TEXT] [--sentences N] [--devices cpu,cuda]

Builds a VITS with coqui's default architecture (``VitsConfig()``: 192 hidden channels, six
text-encoder layers, stochastic duration predictor, 512-channel HiFi-GAN decoder) and random
weights, saves it the way coqui's trainer does, loads it through a preset as narration does,
and times ``CoquiEngine.synthesize`` one sentence at a time.  The cost of a forward pass does
not depend on the weights, but the length of the audio does: the duration predictor still
runs (so its cost counts) and its output is then replaced by :data:`FRAMES_PER_TOKEN` frames
per input token, which makes the speech about as long as real narration (VITS puts a blank
between characters: 8 frames, 93 ms, per character, about 11 characters a second).

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


def bench(model_folder: Path, device: str, texts: list[str]) -> dict[str, float]:
    from narrator.engines import load_engine
    from narrator.voices import Voice

    voice = Voice(name="bench", engine="coqui", model=str(model_folder), language="en",
                  description="full-size VITS, random weights", seed=1)  # fmt: skip
    started = time.perf_counter()
    engine = load_engine(voice, device=device)
    load = time.perf_counter() - started
    model = engine._model  # the benchmark fixes durations on the loaded model
    model.duration_predictor = FixedDurations(model.duration_predictor, FRAMES_PER_TOKEN)
    engine.synthesize("A warm-up sentence, not timed.")
    seconds, audio = [], 0.0
    for text in texts:
        began = time.perf_counter()
        clip = engine.synthesize(text)
        seconds.append(time.perf_counter() - began)
        audio += len(clip) / engine.sample_rate
    engine.close()
    synthesis = sum(seconds)
    return {
        "load": load,
        "audio": audio,
        "synthesis": synthesis,
        "rtf": synthesis / audio,
        "median_sentence": statistics.median(seconds),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--sentences", type=int, default=10)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda is "
                        "skipped when PyTorch finds no GPU")  # fmt: skip
    args = parser.parse_args()
    texts = sentences(args.text, args.sentences)
    devices = [d for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()]
    with tempfile.TemporaryDirectory() as folder:
        model = build_full_size_vits(Path(folder))
        rows = {device: bench(model, device, texts) for device in devices}
    gpu = torch.cuda.get_device_name(0) if "cuda" in rows else None
    chars = sum(len(t) for t in texts)
    print(f"full-size Coqui VITS (random weights), {len(texts)} sentences, {chars} characters, "
          f"torch {torch.__version__}")  # fmt: skip
    print(f"{'device':<8} {'threads':>7} {'load s':>7} {'audio s':>8} {'synth s':>8} "
          f"{'RTF':>7} {'s/sentence':>10}")  # fmt: skip
    for device, r in rows.items():
        print(f"{device:<8} {r['threads']:>7} {r['load']:>7.2f} {r['audio']:>8.1f} "
              f"{r['synthesis']:>8.2f} {r['rtf']:>7.3f} {r['median_sentence']:>10.3f}")  # fmt: skip
    if gpu:
        print(f"cuda: {gpu}")


if __name__ == "__main__":
    main()
