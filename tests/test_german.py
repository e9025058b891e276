"""German through the whole pipeline: the essay of ``tests/data/split/german-essay.txt``,
narrated by a tiny random-weight Coqui VITS with a German alphabet (no German neural voice
can be downloaded here), decoded and measured."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile as sf

from narrator import narrate
from narrator.rendering import DEFAULT_LOUDNESS

from .audio import integrated_loudness
from .coqui_models import SAMPLE_RATE, SECONDS_PER_CHAR, build_vits, write_preset
from .golden import CASES, load_case

pytest.importorskip(
    "TTS", reason="the coqui engine needs coqui-tts: pip install narrator-tts[coqui]"
)

ESSAY = CASES / "german-essay.txt"


@pytest.fixture(scope="module")
def german_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("german-vits")
    build_vits(root / "vits", letters="äöüßÄÖÜ")
    return write_preset(root / "deutsch.toml", "vits", language="de_DE", license="CC0-1.0",
                        credit="A tiny random VITS")  # fmt: skip


@pytest.mark.slow
def test_a_german_essay_is_narrated_as_it_is_read(german_voice: Path, tmp_path: Path, caplog):
    text, expected, _ = load_case(ESSAY)
    output = tmp_path / "essay.flac"
    with caplog.at_level(logging.WARNING):
        result = narrate(text, output, voice=german_voice, device="cpu")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # German and German
    # What was spoken is what a German reader says (the golden file's text) ...
    assert [s.text for s in result.segments] == [line.split("|", 2)[2] for line in expected]
    # ... and each sentence lasted as long as its spoken text: "zwölf Euro fünfzig", not "12,50 €".
    for segment, span in zip(result.segments, result.spans, strict=True):
        seconds = (span.end - span.start) / SAMPLE_RATE
        assert seconds == pytest.approx(len(segment.text) * SECONDS_PER_CHAR, rel=0.15)
    audio, rate = sf.read(output, dtype="float32")
    assert rate == SAMPLE_RATE
    assert len(audio) / rate == pytest.approx(result.duration, abs=0.05)
    assert integrated_loudness(audio, rate) == pytest.approx(DEFAULT_LOUDNESS, abs=1.0)
    assert sf.SoundFile(output).extra_info  # decodes as FLAC
