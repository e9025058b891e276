"""The whole pipeline through the library API, measured on the audio it writes."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from narrator import narrate
from narrator.encode import output_rate
from narrator.engines import load_engine, load_engine_in_background, register_engine
from narrator.errors import EngineError, NarratorError, OptionError, OutputError
from narrator.rendering import AudioFormat, Rendering
from narrator.stitch import ONSET_MARGIN, RELEASE_MARGIN
from narrator.voices import load_voice

from .fake_engine import LEAD_SILENCE, SAMPLE_RATE, FakeEngine, expected_speech_seconds

BOOK = """\
# The Lighthouse

The keeper climbed the stairs. The lamp was cold. He struck a match.

Outside the storm kept on. The boats were late.
"""
SPOKEN = [
    "The Lighthouse.",
    "The keeper climbed the stairs.", "The lamp was cold.", "He struck a match.",
    "Outside the storm kept on.", "The boats were late.",
]  # fmt: skip

SILENCE_DB = -50.0
MIN_GAP = 0.2
FRAME = 0.005


def decode(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    return audio.mean(axis=1), rate


def true_peak_db(audio: np.ndarray) -> float:
    """BS.1770-4 true peak: the sample peak of the signal oversampled four times."""
    peak = max(np.abs(resample_poly(audio, 4, 1)).max(), np.abs(audio).max())
    return 20 * np.log10(peak)


def runs(audio: np.ndarray, rate: int) -> tuple[list[tuple[float, float]], list[float]]:
    """(sounding stretches as (start, end) seconds, silent gaps between them in seconds).

    Silent means every sample of a 5 ms frame is under -50 dBFS; only silences longer
    than 0.2 s separate two stretches, and the lead-in and tail are not gaps.
    """
    frame = round(FRAME * rate)
    count = len(audio) // frame
    peaks = np.abs(audio[: count * frame]).reshape(count, frame).max(axis=1)
    silent = peaks < 10 ** (SILENCE_DB / 20)
    stretches: list[list[int]] = []
    i = 0
    while i < count:
        j = i
        while j < count and silent[j] == silent[i]:
            j += 1
        if not silent[i]:
            if stretches and (i - stretches[-1][1]) * FRAME <= MIN_GAP:
                stretches[-1][1] = j
            else:
                stretches.append([i, j])
        i = j
    spans = [(a * FRAME, b * FRAME) for a, b in stretches]
    gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
    return spans, gaps


@pytest.mark.parametrize("target", [-16.0, -18.0, -23.0])
def test_wav_meets_the_loudness_target_and_ceiling(fake_voice, tmp_path: Path, target: float):
    path = tmp_path / "book.wav"
    result = narrate(BOOK, path, voice=fake_voice, rendering=Rendering(loudness=target))
    assert result.output == path
    audio, rate = decode(path)
    assert rate == SAMPLE_RATE
    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert abs(loudness - target) <= 0.5
    assert abs(result.mastered.loudness - loudness) <= 0.1
    assert true_peak_db(audio) <= Rendering().true_peak
    assert result.mastered.true_peak <= Rendering().true_peak


@pytest.mark.parametrize("fmt", ["flac", "mp3"])
def test_other_formats_meet_the_target_too(fake_voice, tmp_path: Path, fmt: str):
    path = tmp_path / f"book.{fmt}"
    rendering = Rendering(loudness=-20.0, true_peak=-1.0)
    narrate(BOOK, path, voice=fake_voice, rendering=rendering)
    audio, rate = decode(path)
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(audio) - -20.0) <= 0.5
    assert true_peak_db(audio) <= -1.0


class SpikyEngine(FakeEngine):
    """The fake tone with a sharp click every 50 ms: peaks far above its loudness."""

    def synthesize(self, text: str) -> np.ndarray:
        clip = super().synthesize(text)
        clip[round(LEAD_SILENCE * SAMPLE_RATE) : -round(LEAD_SILENCE * SAMPLE_RATE) : 800] = 0.95
        return clip


def test_a_spiky_engine_is_limited(fake_voice, tmp_path: Path):
    # At the target level the clicks would reach -1.4 dBTP: the limiter, not clipping,
    # keeps them under the ceiling, and the loudness is still the target.
    register_engine(fake_voice, SpikyEngine)  # the fixture unregisters it
    path = tmp_path / "book.wav"
    narrate(BOOK, path, voice=fake_voice, rendering=Rendering(loudness=-16.0, true_peak=-3.0))
    audio, rate = decode(path)
    assert true_peak_db(audio) <= -3.0
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(audio) - -16.0) <= 0.5


def test_a_target_out_of_reach_still_keeps_the_ceiling(fake_voice, tmp_path: Path, caplog):
    # Clicks every 50 ms keep the limiter busy, so -12 LUFS cannot be had under -3 dBTP.
    # The ceiling wins: no clipping, no runaway gain, and a warning says so.
    register_engine(fake_voice, SpikyEngine)
    path = tmp_path / "book.wav"
    with caplog.at_level(logging.WARNING, logger="narrator"):
        result = narrate(BOOK, path, voice=fake_voice,
                         rendering=Rendering(loudness=-12.0, true_peak=-3.0))  # fmt: skip
    audio, rate = decode(path)
    assert np.all(np.isfinite(audio))
    assert true_peak_db(audio) <= -3.0
    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert -20.0 < loudness < -12.5
    assert np.isfinite(result.mastered.gain)
    assert any(r.levelno == logging.WARNING and r.name.startswith("narrator.")
               for r in caplog.records)  # fmt: skip


@pytest.mark.parametrize("room_tone_db", [-72.0, None])
def test_pauses_are_the_ones_asked_for(fake_voice, tmp_path: Path, room_tone_db):
    rendering = Rendering(sentence_pause=0.4, paragraph_pause=0.9, heading_pause=1.6,
                          room_tone_db=room_tone_db)  # fmt: skip
    path = tmp_path / "book.wav"
    narrate(BOOK, path, voice=fake_voice, rendering=rendering)
    audio, rate = decode(path)
    spans, gaps = runs(audio, rate)
    assert len(spans) == len(SPOKEN)
    expected = [1.6, 0.4, 0.4, 0.9, 0.4]
    assert np.allclose(gaps, expected, atol=0.05), gaps
    for (start, end), text in zip(spans, SPOKEN, strict=True):
        assert abs((end - start) - expected_speech_seconds(text)) <= 0.05
    assert abs(spans[0][0] - (rendering.lead_in + ONSET_MARGIN)) <= 0.05
    assert abs(len(audio) / rate - spans[-1][1] - (rendering.tail + RELEASE_MARGIN)) <= 0.05


def test_the_room_tone_is_faint_but_not_digital_silence(fake_voice, tmp_path: Path):
    path = tmp_path / "book.wav"
    narrate(BOOK, path, voice=fake_voice, rendering=Rendering())
    audio, rate = decode(path)
    lead_in = audio[: round(0.5 * rate)]
    level = 20 * np.log10(np.sqrt(np.mean(lead_in**2)))
    assert -78.0 <= level <= -66.0
    assert np.count_nonzero(lead_in) > 0.5 * len(lead_in)


def test_heading_pause_is_at_least_the_paragraph_pause(fake_voice):
    rendering = Rendering(paragraph_pause=1.2, heading_pause=0.3)
    result = narrate(BOOK, None, voice=fake_voice, rendering=rendering)
    _, gaps = runs(result.audio.astype(np.float64), result.sample_rate)
    assert abs(gaps[0] - 1.2) <= 0.05


@pytest.mark.parametrize("fmt", ["mp3", "flac", "wav"])
def test_tags(fake_voice, tmp_path: Path, fmt: str):
    import mutagen

    path = tmp_path / f"book.{fmt}"
    narrate(BOOK, path, voice=fake_voice)
    tags = mutagen.File(path).tags
    if fmt == "flac":
        assert tags["TITLE"] == ["The Lighthouse"]
        assert tags["ARTIST"] == ["fake"]
    else:
        assert tags["TIT2"].text == ["The Lighthouse"]
        assert tags["TPE1"].text == ["fake"]
    # The tags do not spoil the audio.
    assert sf.info(path).samplerate == output_rate(AudioFormat(fmt), SAMPLE_RATE)


def test_tags_given_win_and_the_fallback_title(fake_voice, tmp_path: Path):
    from mutagen.flac import FLAC

    given = tmp_path / "given.flac"
    rendering = Rendering(tags={"title": "Storm", "artist": "Me", "album": "Tales"})
    narrate(BOOK, given, voice=fake_voice, rendering=rendering)
    tags = FLAC(given)
    assert (tags["TITLE"], tags["ARTIST"], tags["ALBUM"]) == (["Storm"], ["Me"], ["Tales"])
    fallback = tmp_path / "fallback.flac"
    narrate("No heading here.", fallback, voice=fake_voice, fallback_title="Chapter Two")
    assert FLAC(fallback)["TITLE"] == ["Chapter Two"]


def test_narrate_without_output_returns_the_audio(fake_voice):
    result = narrate(BOOK, None, voice=fake_voice)
    assert result.output is None
    assert result.sample_rate == SAMPLE_RATE
    assert isinstance(result.audio, np.ndarray)
    assert result.audio.dtype == np.float32
    assert result.audio.ndim == 1
    assert len(result.audio) == round(result.duration * SAMPLE_RATE)
    assert [s.text for s in result.segments] == SPOKEN
    assert result.voice.name == "fake"
    loudness = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(result.audio.astype(np.float64))
    assert abs(loudness - -18.0) <= 0.5
    # Each span lies on its segment's speech.
    spans, _ = runs(result.audio.astype(np.float64), SAMPLE_RATE)
    assert len(result.spans) == len(spans)
    for span, (start, end) in zip(result.spans, spans, strict=True):
        assert abs(span.start / SAMPLE_RATE - start) <= 0.02
        assert abs(span.end / SAMPLE_RATE - end) <= 0.02
    assert result.rtf > 0
    assert result.synthesis_seconds <= result.elapsed


def test_narrate_to_a_stream(fake_voice):
    stream = io.BytesIO()
    result = narrate("Hello there. Goodbye.", stream, voice=fake_voice,
                     rendering=Rendering(format=AudioFormat.FLAC))  # fmt: skip
    assert result.output is None
    stream.seek(0)
    audio, rate = sf.read(stream)
    assert rate == SAMPLE_RATE
    assert len(audio) == round(result.duration * rate)


def test_progress_and_a_shared_engine(fake_voice):
    voice = load_voice(fake_voice)
    engine = load_engine(voice)
    seen = []
    for text in ("One. Two.", "Three."):
        narrate(text, None, voice=voice, engine=engine,
                progress=lambda e: seen.append((e.done, e.total, e.segment.text)))  # fmt: skip
    assert seen == [(1, 2, "One."), (2, 2, "Two."), (1, 1, "Three.")]
    assert FakeEngine.calls == ["One.", "Two.", "Three."]


class ClosingEngine(FakeEngine):
    """A fake engine that remembers being closed."""

    closed: list[ClosingEngine] = []

    def close(self) -> None:
        ClosingEngine.closed.append(self)


def test_the_model_loads_while_the_text_is_split(fake_voice, user_dirs: Path):
    register_engine("closing", ClosingEngine)
    (user_dirs / "closing.toml").write_text(
        (user_dirs / "fake.toml").read_text().replace('engine = "fake"', 'engine = "closing"')
    )
    ClosingEngine.closed.clear()
    # Loaded on a thread by narrate, the engine is narrate's to close...
    narrate("One sentence.", None, voice="closing")
    assert len(ClosingEngine.closed) == 1
    # ...also when preparing the text fails: it is closed once loaded.
    with pytest.raises(NarratorError, match="no-such-lexicon"):
        narrate("Words.", None, voice="closing", lexicon=user_dirs / "no-such-lexicon.toml")
    deadline = time.monotonic() + 10
    while len(ClosingEngine.closed) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ClosingEngine.closed) == 2
    with pytest.raises(NarratorError, match="jobs must be"):
        narrate("Words.", None, voice="closing", jobs=0)
    deadline = time.monotonic() + 10
    while len(ClosingEngine.closed) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ClosingEngine.closed) == 3
    # One still loading may be handed over (the CLI does), and is closed the same way.
    narrate("Two.", None, voice="closing",
            engine=load_engine_in_background(load_voice("closing")))  # fmt: skip
    assert len(ClosingEngine.closed) == 4
    # A loaded one stays the caller's.
    engine = load_engine(load_voice("closing"))
    narrate("Three.", None, voice="closing", engine=engine)
    assert engine not in ClosingEngine.closed


def test_an_engine_that_fails_to_load_fails_the_narration(fake_voice, user_dirs: Path):
    (user_dirs / "missing.toml").write_text(
        'name = "missing"\nengine = "piper"\nmodel = "/nonexistent/voice.onnx"\n'
        'language = "en_US"\ndescription = "no such model"\n'
    )
    with pytest.raises(NarratorError, match="voice.onnx"):
        narrate("A sentence.", None, voice="missing")


class ConcurrentEngine(FakeEngine):
    """A fake engine whose calls may run side by side; it notes how many at once."""

    concurrent = True
    running = 0
    most = 0
    lock = threading.Lock()

    def synthesize(self, text: str) -> np.ndarray:
        with ConcurrentEngine.lock:
            ConcurrentEngine.running += 1
            ConcurrentEngine.most = max(ConcurrentEngine.most, ConcurrentEngine.running)
        time.sleep(0.02)
        try:
            return super().synthesize(text)
        finally:
            with ConcurrentEngine.lock:
                ConcurrentEngine.running -= 1


def test_a_concurrent_engine_speaks_sentences_side_by_side_in_order(
    fake_voice, user_dirs: Path, monkeypatch: pytest.MonkeyPatch
):
    register_engine("side", ConcurrentEngine)
    (user_dirs / "side.toml").write_text(
        (user_dirs / "fake.toml").read_text().replace('engine = "fake"', 'engine = "side"')
    )
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # 4 calls of 1 thread each
    monkeypatch.delenv("NARRATOR_ENGINE_THREADS", raising=False)
    text = " ".join(f"Sentence number {n} has its own length{'.' * (n % 3 + 1)}"
                    for n in range(12))  # fmt: skip
    side = narrate(text, None, voice="side", cache=False)
    assert ConcurrentEngine.most == 4
    serial = narrate(text, None, voice=fake_voice, cache=False)
    assert side.spans == serial.spans  # every clip where it belongs
    assert np.array_equal(side.audio, serial.audio)
    assert side.stats.synthesized == len(side.segments) >= 8


def test_a_narration_leaves_process_wide_settings_alone(fake_voice, failing_voice):
    # A server narrates many texts at once: the GIL switch interval is the command's
    # to set (narrator.cli), never a library call's.
    before = sys.getswitchinterval()
    seen: list[float] = []
    narrate("One. Two.", None, voice=fake_voice,
            progress=lambda event: seen.append(sys.getswitchinterval()))  # fmt: skip
    assert seen == [before] * 2
    with pytest.raises(EngineError):
        narrate("One. Two. Three.", None, voice="failing")
    assert sys.getswitchinterval() == before


def test_speed_from_the_voice(fake_voice):
    voice = load_voice(fake_voice).with_options(speed=2.0)
    slow = narrate("A sentence of some length.", None, voice=fake_voice)
    fast = narrate("A sentence of some length.", None, voice=voice)
    speech = expected_speech_seconds("A sentence of some length.")
    assert abs((slow.duration - fast.duration) - speech / 2) <= 0.02


# A run that fails part-way leaves nothing behind.


# An engine's own exception (RuntimeError) reaches the caller as an EngineError.
@pytest.mark.parametrize(
    ("raises", "expected"),
    [(EngineError, EngineError), (KeyboardInterrupt, KeyboardInterrupt),
     (RuntimeError, EngineError)],
)  # fmt: skip
@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_failure_leaves_no_file(
    failing_voice, tmp_path: Path, monkeypatch, raises, expected, fmt
):  # fmt: skip
    monkeypatch.setattr(failing_voice, "raises", raises)
    monkeypatch.setattr(failing_voice, "fail_on", 3)
    path = tmp_path / f"book.{fmt}"
    with pytest.raises(expected, match="failed on call 3"):
        narrate(BOOK, path, voice="failing")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("raises", [EngineError, KeyboardInterrupt])
def test_failure_keeps_an_existing_file(failing_voice, tmp_path: Path, monkeypatch, raises):
    monkeypatch.setattr(failing_voice, "raises", raises)
    monkeypatch.setattr(failing_voice, "fail_on", len(SPOKEN))  # the very last sentence
    path = tmp_path / "book.mp3"
    path.write_bytes(b"ID3 an earlier, finished narration")
    with pytest.raises(raises):
        narrate(BOOK, path, voice="failing")
    assert path.read_bytes() == b"ID3 an earlier, finished narration"
    assert [p.name for p in tmp_path.iterdir()] == ["book.mp3"]


def test_failure_writes_nothing_to_a_stream(failing_voice):
    stream = io.BytesIO()
    with pytest.raises(EngineError):
        narrate(BOOK, stream, voice="failing")
    assert stream.getvalue() == b""


def test_a_successful_run_replaces_an_existing_file(fake_voice, tmp_path: Path):
    path = tmp_path / "book.wav"
    path.write_bytes(b"old")
    narrate(BOOK, path, voice=fake_voice)
    assert sf.info(path).samplerate == SAMPLE_RATE
    assert [p.name for p in tmp_path.iterdir()] == ["book.wav"]


def test_output_errors_come_before_synthesis(fake_voice, tmp_path: Path):
    with pytest.raises(OutputError, match="does not exist"):
        narrate(BOOK, tmp_path / "missing" / "book.wav", voice=fake_voice)
    with pytest.raises(OutputError, match="is a directory"):
        narrate(BOOK, tmp_path, voice=fake_voice)
    assert FakeEngine.calls == []


# The public API, and what importing it costs.


def test_public_api():
    import narrator

    assert callable(narrator.narrate)
    assert narrator.Rendering().loudness == -18.0
    assert narrator.load_voice("joe").engine == "piper"
    assert narrator.Voice is type(narrator.load_voice("joe"))
    assert set(narrator.__all__) <= set(dir(narrator)) | set(narrator._LAZY)
    for name in narrator.__all__:
        assert getattr(narrator, name) is not None
    with pytest.raises(AttributeError):
        narrator.no_such_thing  # noqa: B018


HEAVY = ("torch", "onnxruntime", "piper", "TTS")


def fresh_python(code: str) -> str:
    """What *code* prints in a new interpreter (so that nothing is imported yet)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_help_does_not_import_heavy_engines():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from narrator.cli import cli\n"
        "for args in (['--help'], ['read', '--help'], ['voices']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    assert fresh_python(code) == "[]\n"


def test_import_narrator_is_lazy():
    # Importing the package loads none of the pipeline; names load on first use.
    code = (
        "import sys, narrator\n"
        "print(sorted(m for m in sys.modules if m.startswith(('narrator.', 'numpy'))))\n"
        "narrator.Rendering, narrator.load_voice, narrator.narrate\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    assert fresh_python(code) == "[]\n[]\n"


# Arguments a library caller gets wrong


def _closed_stream() -> io.BytesIO:
    stream = io.BytesIO()
    stream.close()
    return stream


@pytest.mark.parametrize(
    ("text", "changes", "error", "message"),
    [
        (None, {}, "InputError", "narrate(): the text must be a str, not None"),
        (b"Hi.", {}, "InputError", "narrate(): the text must be a str, not bytes b'Hi.'; decode "),
        (5, {}, "InputError", "narrate(): the text must be a str, not int 5"),
        ("Hi.", {"cache": "abc"}, "OptionError",
         "narrate(): cache must be True, False or a ClipCache, not str 'abc'"),
        ("Hi.", {"rendering": "abc"}, "OptionError",
         "narrate(): rendering must be a narrator.Rendering, not str 'abc'"),
        ("Hi.", {"jobs": "2"}, "OptionError",
         "narrate(): jobs must be a whole number, not str '2'"),
        ("Hi.", {"output": _closed_stream()}, "OptionError",
         "narrate(): the output stream is closed"),
        ("Hi.", {"output": io.StringIO()}, "OptionError",
         "narrate(): output must be a binary stream (sys.stdout.buffer, not sys.stdout), "
         "not StringIO"),
        ("Hi.", {"output": 5}, "OptionError",
         "narrate(): output must be a path, a binary stream or None, not int 5"),
        ("Hi.", {"voice": 5}, "OptionError",
         "narrate(): voice must be a preset name, a preset file or a narrator.Voice, not int 5"),
        ("Hi.", {"device": "gpu"}, "OptionError",
         "narrate(): device must be one of 'auto', 'cpu', 'cuda', not str 'gpu'"),
        ("Hi.", {"subtitles": 5}, "OptionError", "narrate(): subtitles must be a path or None"),
        ("Hi.", {"lexicon": 5}, "OptionError", "narrate(): lexicon must be a path to a lexicon "),
        ("Hi.", {"split_chapters": "yes"}, "OptionError",
         "narrate(): split_chapters must be True or False, not str 'yes'"),
    ],
)  # fmt: skip
def test_wrong_argument_types_are_narrator_errors(
    fake_voice, text: object, changes: dict[str, object], error: str, message: str
):
    arguments: dict[str, object] = {"voice": fake_voice, **changes}
    with pytest.raises(NarratorError) as info:
        narrate(text, **arguments)  # type: ignore[arg-type]
    assert type(info.value).__name__ == error
    assert info.value.exit_code == 2
    assert str(info.value).startswith(message)
    assert FakeEngine.calls == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"room_tone_db": 20}, "room tone must be between -120 and -40 dBFS, not 20"),
        ({"room_tone_db": float("nan")}, "room tone must be between -120 and -40 dBFS, not nan"),
        ({"loudness": float("nan")}, "loudness must be between -50 and -5 LUFS, not nan"),
        ({"true_peak": float("inf")}, "true peak ceiling must be between -20 and 0 dBTP, not inf"),
        ({"sentence_pause": float("nan")}, "sentence-pause must be between 0 and 60 seconds"),
        ({"lead_in": "1"}, "lead-in must be a number, not '1'"),
        ({"fade": True}, "fade must be a number, not True"),
        ({"bitrate": 96.0}, "bitrate must be a whole number of kbit/s, not 96.0"),
        ({"bitrate": 100}, "MP3 has no bitrate of 100 kbit/s; the nearest are 96 and 112"),
        ({"format": AudioFormat.OGG, "bitrate": 8}, "ogg bitrate must be between 32 and 192"),
        ({"format": 3}, "format must be an AudioFormat or a name such as 'mp3', not 3"),
        ({"tags": {"title": 3}}, "tags must be a dict of strings to strings"),
    ],
)  # fmt: skip
def test_a_rendering_is_checked_where_it_is_built(changes: dict[str, object], message: str):
    with pytest.raises(OptionError) as info:
        Rendering(**changes)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_a_lossless_format_ignores_the_bitrate():
    assert Rendering(format=AudioFormat.FLAC, bitrate=100).bitrate == 100
    assert Rendering(format="ogg", bitrate=100).format is AudioFormat.OGG  # type: ignore[arg-type]
    assert Rendering(room_tone_db=None).room_tone_db is None


def test_a_room_tone_in_range_keeps_the_ceiling(fake_voice, tmp_path: Path):
    path = tmp_path / "loud-tone.wav"
    narrate(BOOK, path, voice=fake_voice, rendering=Rendering(room_tone_db=-40.0))
    audio, _ = sf.read(path, dtype="float32")
    assert np.isfinite(audio).all()
    assert true_peak_db(audio) <= Rendering().true_peak
