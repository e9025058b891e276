"""The Piper engine's ONNX session: the optimized graph kept per machine, sentences side by side."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from narrator.cache import ClipCache
from narrator.engines import load_engine
from narrator.voices import load_voice

pytestmark = pytest.mark.slow  # every test here loads joe

SENTENCES = ["The machine read the first line twice.", "Then it read on, slower."]


def speech_seconds(clip: np.ndarray, rate: int) -> float:
    """Seconds of *clip* above -40 dBFS (in 10 ms frames)."""
    frames = clip[: len(clip) // (rate // 100) * (rate // 100)].reshape(-1, rate // 100)
    return float((np.sqrt((frames**2).mean(axis=1)) > 0.01).sum() / 100)


def test_the_optimized_graph_is_kept_and_used(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path))
    first = load_engine(load_voice("joe"), device="cpu")
    kept = list((tmp_path / "models").glob("*.onnx"))
    assert len(kept) == 1 and kept[0].stat().st_size > 1_000_000
    assert not list((tmp_path / "models").glob(".*"))  # no partial file left
    again = load_engine(load_voice("joe"), device="cpu")  # from the optimized graph
    for engine in (first, again):
        clip = engine.synthesize(SENTENCES[0])
        assert engine.sample_rate == 22_050 and 1.0 < speech_seconds(clip, 22_050) < 4.0
    # `narrator cache --clear` takes it too.
    cache = ClipCache(tmp_path)
    assert cache.usage()[1] >= kept[0].stat().st_size
    cache.clear()
    assert not kept[0].exists()
    # A damaged graph is noticed, replaced, and the voice still loads.
    load_engine(load_voice("joe"), device="cpu")
    (damaged,) = (tmp_path / "models").glob("*.onnx")
    damaged.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING, logger="narrator.engines.piper"):
        engine = load_engine(load_voice("joe"), device="cpu")
    assert "unusable" in caplog.text
    assert damaged.stat().st_size > 1_000_000
    assert speech_seconds(engine.synthesize(SENTENCES[1]), 22_050) > 0.5


def test_an_unwritable_cache_only_costs_the_saved_graph(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    engine = load_engine(load_voice("joe"), device="cpu")
    assert speech_seconds(engine.synthesize(SENTENCES[0]), 22_050) > 1.0


def test_piper_speaks_sentences_side_by_side(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path))
    engine = load_engine(load_voice("joe"), device="cpu")
    assert engine.concurrent
    with ThreadPoolExecutor(2) as pool:
        clips = list(pool.map(engine.synthesize, SENTENCES * 2))
    for text, clip in zip(SENTENCES * 2, clips, strict=True):
        alone = engine.synthesize(text)
        # Piper's output is random (its noise), so the same text only sounds as long.
        assert speech_seconds(clip, 22_050) == pytest.approx(
            speech_seconds(alone, 22_050), rel=0.25
        )


@pytest.mark.slow
def test_an_optimized_graph_that_gives_nan_is_dropped(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path))
    load_engine(load_voice("joe"), device="cpu")
    # Damaged weights in a file that still loads: every sample comes out NaN.
    (graph,) = (tmp_path / "models").glob("*.onnx")
    data = bytearray(graph.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096  # 0xffffffff is a NaN
    graph.write_bytes(bytes(data))
    engine = load_engine(load_voice("joe"), device="cpu")
    with caplog.at_level(logging.WARNING, logger="narrator.engines.piper"):
        clip = engine.synthesize(SENTENCES[0])
    assert "gives samples that are not finite: removed" in caplog.text
    assert np.isfinite(clip).all() and 1.0 < speech_seconds(clip, 22_050) < 4.0
    assert graph.read_bytes() != bytes(data)  # made again from the model, whole
    again = load_engine(load_voice("joe"), device="cpu")
    assert np.isfinite(again.synthesize(SENTENCES[1])).all()
