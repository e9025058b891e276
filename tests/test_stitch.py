"""Stitching: clips are trimmed to their speech, faded, and laid out with exact pauses."""

from __future__ import annotations

import numpy as np
import pytest

from narrator.rendering import Rendering
from narrator.stitch import (
    CHUNK_PAUSE,
    ONSET_MARGIN,
    RELEASE_MARGIN,
    Stitcher,
    condition,
    silence_after,
    speech_bounds,
)

RATE = 16_000
FADE = 0.008


def tone(seconds: float, rate: int = RATE, freq: float = 220.0, amp: float = 0.4) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(round(seconds * rate), dtype=np.float32)


def padded(seconds: float, pad: float = 0.5, rate: int = RATE) -> np.ndarray:
    return np.concatenate([silence(pad, rate), tone(seconds, rate), silence(pad, rate)])


def sounding_runs(audio: np.ndarray, threshold: float = 1e-3) -> list[tuple[int, int]]:
    """(start, stop) of every run of samples whose magnitude reaches *threshold*,
    bridging the zero crossings of a tone."""
    loud = np.flatnonzero(np.abs(audio) >= threshold)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > RATE // 100)  # a gap of more than 10 ms
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    stops = np.concatenate([loud[breaks], [loud[-1]]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def test_speech_bounds_finds_the_tone():
    assert speech_bounds(padded(1.0), RATE) == (8000, 24000)
    assert speech_bounds(silence(1.0), RATE) is None
    assert speech_bounds(np.zeros(3, dtype=np.float32), RATE) is None


@pytest.mark.parametrize("rate", [16_000, 22_050, 44_100])
def test_condition_trims_silence_to_the_margins(rate: int):
    out = condition(padded(1.0, rate=rate), rate, FADE)
    expected = 1.0 + ONSET_MARGIN + RELEASE_MARGIN
    assert abs(len(out) / rate - expected) <= 0.011  # one 10 ms analysis frame
    assert out.dtype == np.float32


def test_condition_keeps_quiet_speech_and_trims_leading_noise():
    # A soft word before a loud one is kept; the faint hiss far below is not speech.
    rng = np.random.default_rng(1)
    hiss = (1e-4 * rng.standard_normal(RATE)).astype(np.float32)
    clip = np.concatenate([hiss, tone(0.3, amp=0.02), tone(0.5), hiss])
    out = condition(clip, RATE, FADE)
    assert abs(len(out) / RATE - (0.8 + ONSET_MARGIN + RELEASE_MARGIN)) <= 0.011


def test_condition_fades_both_ends_to_zero():
    # Cut the tone at its crest, where an unfaded edge would click.
    clip = tone(1.0, freq=250.0)[20:]
    assert abs(clip[0]) > 0.3
    out = condition(clip, RATE, FADE)
    assert abs(out[0]) < 1e-6
    assert abs(out[-1]) < 1e-6
    n = round(FADE * RATE)
    # The ramp rises smoothly over the fade, and the middle is untouched.
    assert np.all(np.abs(out[: n // 4]) < 0.2 * 0.4)
    assert np.max(np.abs(out[n : len(out) - n])) > 0.39


def test_condition_without_fade_keeps_the_edges():
    clip = tone(1.0, freq=250.0)[20:]
    out = condition(clip, RATE, 0.0)
    assert abs(out[0]) > 0.3


def test_condition_removes_dc():
    clip = np.concatenate([silence(0.5), tone(1.0) + np.float32(0.2), silence(0.5)])
    assert abs(float(clip[8000:24000].mean()) - 0.2) < 1e-3
    out = condition(clip, RATE, FADE)
    assert abs(float(out.mean())) < 2e-3


def test_condition_of_silence_is_empty():
    assert len(condition(silence(1.0), RATE, FADE)) == 0
    assert len(condition(np.zeros(0, dtype=np.float32), RATE, FADE)) == 0


@pytest.mark.parametrize("pause", [0.1, 0.45, 1.0, 1.5])
def test_gap_between_two_clips_is_the_pause(pause: float):
    stitcher = Stitcher(RATE, Rendering())
    audio = np.concatenate([
        stitcher.lead_in(),
        stitcher.add([padded(0.7)], pause),
        stitcher.add([padded(0.4, pad=0.2)], 0.0),
        stitcher.tail(),
    ])  # fmt: skip
    runs = sounding_runs(audio)
    assert len(runs) == 2
    gap = (runs[1][0] - runs[0][1]) / RATE
    assert abs(gap - pause) <= 0.010
    assert abs((runs[0][1] - runs[0][0]) / RATE - 0.7) <= 0.010
    assert abs((runs[1][1] - runs[1][0]) / RATE - 0.4) <= 0.010
    # The lead-in and tail are the rendering's, give or take the margins.
    assert abs(runs[0][0] / RATE - (Rendering().lead_in + ONSET_MARGIN)) <= 0.010
    tail = (len(audio) - runs[1][1]) / RATE
    assert abs(tail - (Rendering().tail + RELEASE_MARGIN)) <= 0.010


def test_spans_mark_the_speech():
    stitcher = Stitcher(RATE, Rendering())
    audio = np.concatenate([
        stitcher.lead_in(), stitcher.add([padded(0.7)], 0.5), stitcher.add([padded(0.4)], 0.0),
    ])  # fmt: skip
    runs = sounding_runs(audio)
    assert stitcher.position == len(audio)
    for span, (start, stop) in zip(stitcher.spans, runs, strict=True):
        assert abs(span.start - start) <= RATE // 100
        assert abs(span.end - stop) <= RATE // 100


def test_chunks_of_one_sentence_are_a_breath_apart():
    stitcher = Stitcher(RATE, Rendering())
    audio = stitcher.add([padded(0.5), padded(0.5)], 0.0)
    runs = sounding_runs(audio)
    assert len(runs) == 2
    assert abs((runs[1][0] - runs[0][1]) / RATE - CHUNK_PAUSE) <= 0.010


def test_silent_clip_gives_only_the_pause():
    stitcher = Stitcher(RATE, Rendering())
    audio = stitcher.add([silence(0.8)], 0.5)
    assert len(audio) == silence_after(0.5, RATE)
    assert not np.any(audio)
    assert stitcher.spans[0].start == stitcher.spans[0].end
    assert len(stitcher.add([], 0.0)) == 0


def test_silence_after_counts_the_margins():
    assert silence_after(1.0, RATE) == round((1.0 - ONSET_MARGIN - RELEASE_MARGIN) * RATE)
    assert silence_after(0.0, RATE) == 0
    assert silence_after(0.01, RATE) == 0


def test_a_segment_given_clip_by_clip_is_the_segment_given_whole():
    clips = [silence(0.3), padded(0.5), silence(0.2), padded(0.3, pad=0.2), padded(0.4)]
    whole, streamed = Stitcher(RATE, Rendering()), Stitcher(RATE, Rendering())
    expected = np.concatenate([whole.lead_in(), whole.add(clips, 0.6), whole.add([], 0.2),
                               whole.add(clips[1:2], 0.0)])  # fmt: skip
    parts = [streamed.lead_in()]
    for segment, pause in ((clips, 0.6), ([], 0.2), (clips[1:2], 0.0)):
        parts += [streamed.speak(clip) for clip in segment]  # one chunk at a time
        parts.append(streamed.end(pause))
    np.testing.assert_array_equal(np.concatenate(parts), expected)
    assert streamed.spans == whole.spans and streamed.position == whole.position
    # The chunks are a breath apart, and only those that sound count.
    runs = sounding_runs(expected[: whole.spans[0].end + RATE // 10])
    assert len(runs) == 3
