"""Streaming: mastered audio a sentence at a time (narrator.stream, stream_bytes, and
``narrator read --stream``), decoded and measured."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import narrator
from narrator.cache import ClipCache
from narrator.cli import cli
from narrator.engines import register_engine, unregister_engine
from narrator.errors import OptionError
from narrator.loudness import measure
from narrator.streaming import STREAM_FORMATS, stream, stream_bytes, stream_rate
from narrator.voices import load_voice

from .audio import decode_ffmpeg, ebur128
from .fake_engine import SAMPLE_RATE, FakeEngine, GatedEngine

ROOT = Path(__file__).resolve().parent.parent

STORY = """\
# The Lighthouse

The keeper climbed the stairs. The lamp was cold, and the wind was high. He struck a match.

Outside the storm kept on. The boats were late.

Finally the light came on.
"""
LAST = "Finally the light came on."

TOLERANCE_LU = 1.0


def invoke(args: list[str], **kwargs):
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False, **kwargs)


@pytest.fixture
def gated_voice(user_dirs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    register_engine("gated", GatedEngine)
    (user_dirs / "gated.toml").write_text(
        'name = "gated"\nengine = "gated"\nmodel = "tone"\nlanguage = "en"\ndescription = ""\n'
    )
    gate = tmp_path / "gate"
    monkeypatch.setenv("NARRATOR_TEST_GATE", str(gate))
    FakeEngine.calls.clear()
    yield gate
    unregister_engine("gated")


def test_blocks_are_the_narration_mastered_to_the_target(fake_voice):
    audio = stream(STORY, voice=fake_voice)
    assert audio.sample_rate == SAMPLE_RATE
    blocks = list(audio)
    assert len(blocks) >= 6  # one or more per sentence
    assert all(block.dtype == np.float32 and block.ndim == 1 for block in blocks)
    streamed = np.concatenate(blocks)
    whole = narrator.narrate(STORY, None, voice=fake_voice)
    assert whole.audio is not None
    # The same stitching (pauses, lead-in, tail) as the file: the same length.
    assert len(streamed) == len(whole.audio)
    loudness, peak = measure([streamed], SAMPLE_RATE)
    assert abs(loudness - -18.0) <= TOLERANCE_LU
    assert peak <= -2.0
    assert audio.loudness == pytest.approx(loudness, abs=0.01)


@pytest.mark.parametrize("fmt", STREAM_FORMATS)
def test_each_format_decodes_to_the_stream_at_the_target(fake_voice, tmp_path: Path, fmt: str):
    data = b"".join(stream_bytes(STORY, format=fmt, voice=fake_voice))
    path = tmp_path / f"story.{fmt}"
    if fmt == "pcm":  # raw: give ffmpeg the layout the CLI prints
        wav = tmp_path / "pcm.wav"
        subprocess.run([*_ffmpeg(), "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1",
                        "-i", "pipe:0", str(wav)], input=data, check=True)  # fmt: skip
        path = wav
    else:
        path.write_bytes(data)
    decoded = decode_ffmpeg(path)
    assert decoded.rate == stream_rate(fmt, SAMPLE_RATE)
    whole = narrator.narrate(STORY, None, voice=fake_voice)
    # Lossy codecs pad to whole frames; ADTS cannot say how much (AAC's 1024 samples of
    # priming and up to a frame of padding stay in), the others' decoders trim it.
    codec_slack = {"aac": 2 * 1024 / SAMPLE_RATE, "mp3": 0.1, "opus": 0.1}.get(fmt, 0.001)
    assert decoded.duration == pytest.approx(whole.duration, abs=codec_slack)
    measured = ebur128(path)
    assert abs(measured.integrated - -18.0) <= TOLERANCE_LU
    assert measured.true_peak <= -2.0


def test_a_wav_stream_has_a_header_of_unknown_length(fake_voice):
    data = b"".join(stream_bytes("One. Two.", format="wav", voice=fake_voice))
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert data[4:8] == data[40:44] == b"\xff\xff\xff\xff"
    assert int.from_bytes(data[24:28], "little") == SAMPLE_RATE


def test_the_first_block_comes_before_the_last_sentence_is_spoken(gated_voice: Path):
    # The engine cannot speak the last sentence until the gate opens: the first block
    # must arrive with the gate shut.
    with stream(STORY, voice="gated") as audio:
        first = next(audio)
        assert len(first) > 0
        assert LAST not in FakeEngine.calls
        gated_voice.touch()
        rest = list(audio)
    assert LAST in FakeEngine.calls
    assert rest


def test_the_first_bytes_come_before_the_last_sentence_is_spoken(gated_voice: Path):
    chunks = stream_bytes(STORY, format="mp3", voice="gated")
    first = next(iter(chunks))
    assert first[:2] in (b"\xff\xfb", b"\xff\xf3", b"ID")  # MP3 frames (no ID3 tag is written)
    assert LAST not in FakeEngine.calls
    gated_voice.touch()
    assert b"".join(chunks)


@pytest.mark.parametrize("how", ["cancel", "close"])
def test_stopping_a_stream_stops_synthesis(fake_voice, how: str):
    cancel = threading.Event()
    audio = stream(STORY, voice=fake_voice, cancel=cancel)
    next(audio)
    spoken = len(FakeEngine.calls)
    if how == "cancel":
        cancel.set()
        assert list(audio) == []
    else:
        audio.close()
        with pytest.raises(StopIteration):
            next(audio)
    assert len(FakeEngine.calls) == spoken
    assert LAST not in FakeEngine.calls


def test_closing_an_encoded_stream_stops_the_encoder_and_synthesis(fake_voice):
    chunks = stream_bytes(STORY, format="opus", voice=fake_voice)
    next(chunks)
    chunks.close()
    spoken = len(FakeEngine.calls)
    time.sleep(0.2)  # (a thread left running would speak on)
    assert len(FakeEngine.calls) == spoken and LAST not in FakeEngine.calls


class ProbeEngine(FakeEngine):
    """The fake engine, counting the calls that overlap (it is not concurrent)."""

    name = "probe"
    running = 0
    most = 0
    lock = threading.Lock()

    def synthesize(self, text: str) -> np.ndarray:
        with ProbeEngine.lock:
            ProbeEngine.running += 1
            ProbeEngine.most = max(ProbeEngine.most, ProbeEngine.running)
        time.sleep(0.005)
        try:
            return super().synthesize(text)
        finally:
            with ProbeEngine.lock:
                ProbeEngine.running -= 1


def test_one_engine_serves_concurrent_streams_one_call_at_a_time(user_dirs: Path):
    register_engine("probe", ProbeEngine)
    try:
        (user_dirs / "probe.toml").write_text(
            'name = "probe"\nengine = "probe"\nmodel = "tone"\nlanguage = "en"\ndescription = ""\n'
        )
        voice = load_voice("probe")
        engine = ProbeEngine.load(voice)
        alone = np.concatenate(list(stream(STORY, voice=voice, engine=engine, cache=False)))
        results: list[np.ndarray] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                blocks = stream(STORY, voice=voice, engine=engine, cache=False)
                results.append(np.concatenate(list(blocks)))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert ProbeEngine.most == 1
        assert len(results) == 4
        for result in results:
            np.testing.assert_array_equal(result, alone)
    finally:
        unregister_engine("probe")


def test_the_voice_loudness_is_measured_once_and_kept(fake_voice):
    list(stream(STORY, voice=fake_voice))
    kept = list(ClipCache().voices.glob("loudness-*.json"))
    assert len(kept) == 1
    calls = len(FakeEngine.calls)
    list(stream(STORY, voice=fake_voice))
    # Again: the clips come from the cache, and the voice is not measured again.
    assert len(FakeEngine.calls) == calls


def test_bad_arguments_are_one_clear_error(fake_voice):
    with pytest.raises(OptionError, match="unknown stream format 'ogg'"):
        stream_bytes("One.", format="ogg", voice=fake_voice)
    with pytest.raises(OptionError, match="the text must be a str"):
        stream(b"One.", voice=fake_voice)  # type: ignore[arg-type]


# -- the command ---------------------------------------------------------------------


def test_pcm_stream_with_the_rate_on_stderr(fake_voice, tmp_path: Path):
    (tmp_path / "story.md").write_text(STORY)
    result = invoke(["read", str(tmp_path / "story.md"), "-o", "-", "--stream", "--format",
                     "pcm", "--voice", fake_voice, "--verbose"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"narrator: streaming pcm: s16le, mono, {SAMPLE_RATE} Hz" in result.stderr
    samples = np.frombuffer(result.stdout_bytes, dtype="<i2") / 32768.0
    whole = narrator.narrate(STORY, None, voice=fake_voice)
    assert len(samples) == round(whole.duration * SAMPLE_RATE)
    loudness, peak = measure([samples], SAMPLE_RATE)
    assert abs(loudness - -18.0) <= TOLERANCE_LU and peak <= -2.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.mp3", "--stream"], "--stream writes to standard output: give -o -"),
        (["-o", "-", "--stream", "--format", "ogg"], "--stream cannot stream ogg"),
        (["-o", "-", "--stream", "--subtitles", "s.srt"], "cannot be combined with --subtitles"),
        (["-o", "-", "--format", "pcm"], "--format pcm is raw audio for a stream"),
        (["-o", "x.wav", "--format", "pcm"], "--format pcm is raw audio for a stream"),
    ],
)
def test_streams_that_cannot_be(fake_voice, tmp_path: Path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    Path("story.md").write_text(STORY)
    result = invoke(["read", "story.md", "--voice", fake_voice, *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not FakeEngine.calls


# -- for real: a process writing into a pipe ------------------------------------------

_RUN = (
    "import sys\n"
    "from narrator.engines import register_engine\n"
    "from tests.fake_engine import FakeEngine, GatedEngine\n"
    "register_engine('fake', FakeEngine)\n"
    "register_engine('gated', GatedEngine)\n"
    "from narrator.cli import main\n"
    "sys.argv = ['narrator', *sys.argv[1:]]\n"
    "main()\n"
)


def _narrator(args: list[str], tmp_path: Path, **kwargs) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", _RUN, *args], env=env, cwd=tmp_path,
                            **kwargs)  # fmt: skip


def _ffmpeg() -> list[str]:
    from .audio import ffmpeg

    return [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]


@pytest.mark.parametrize("fmt", ["mp3", "pcm"])
def test_a_reader_that_goes_away_ends_narrator_quietly(fake_voice, tmp_path: Path, fmt: str):
    # narrator read - -o - | head -c 1000: narrator ends with 141 (as Unix tools killed by
    # SIGPIPE do), without a traceback and without anything left behind.
    long_story = STORY * 20
    narrator_process = _narrator(["read", "-", "-o", "-", "--voice", fake_voice, "--format",
                                  fmt, "--quiet"], tmp_path, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    head = subprocess.Popen(["head", "-c", "1000"], stdin=narrator_process.stdout,
                            stdout=subprocess.PIPE)  # fmt: skip
    assert narrator_process.stdout is not None and narrator_process.stdin is not None
    narrator_process.stdout.close()  # only head reads it now
    narrator_process.stdin.write(long_story.encode())
    narrator_process.stdin.close()
    out, _ = head.communicate(timeout=60)
    assert len(out) == 1000
    assert narrator_process.wait(timeout=60) == 141
    assert narrator_process.stderr is not None
    assert narrator_process.stderr.read().decode() == ""
    assert list((tmp_path / "tmp").iterdir()) == []
    assert len(FakeEngine.calls) == 0  # (the engine ran in the other process)


def test_a_pipe_gets_a_stream_by_default(gated_voice: Path, tmp_path: Path):
    # No --stream: standard output is a pipe, so the first audio comes out while the
    # engine still waits to speak the last sentence.
    (tmp_path / "story.md").write_text(STORY)
    process = _narrator(["read", "story.md", "-o", "-", "--voice", "gated", "--quiet"],
                        tmp_path, stdout=subprocess.PIPE)  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.read(417)  # a 96 kbit/s MP3 frame at 44.1 kHz is 313-314 bytes
    assert process.poll() is None
    gated_voice.touch()
    rest = process.stdout.read()
    assert process.wait(timeout=60) == 0
    path = tmp_path / "piped.mp3"
    path.write_bytes(first + rest)
    assert abs(ebur128(path).integrated - -18.0) <= TOLERANCE_LU


def test_a_stream_to_a_terminal_is_refused(fake_voice, tmp_path: Path):
    (tmp_path / "story.md").write_text(STORY)
    leader, follower = pty.openpty()
    try:
        process = _narrator(["read", "story.md", "-o", "-", "--stream", "--voice", fake_voice],
                            tmp_path, stdout=follower, stderr=subprocess.PIPE)  # fmt: skip
        _, err = process.communicate(timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert process.returncode == 2
    assert "refusing to write audio to a terminal" in err.decode()


# -- a real voice --------------------------------------------------------------------

TEXTS = {
    "story": STORY,
    "dialogue": (
        '"Are you coming?" she asked.\n\n"In a minute," he said. "Let me find my coat."\n\n'
        "She waited by the door. The clock ticked. Outside, a dog barked twice, then stopped."
    ),
    "report": (
        "# Quarterly notes\n\nSales rose by 12 percent in the third quarter. Costs fell "
        "slightly.\n\n- The new office opened in March.\n- Two teams merged.\n\n"
        "We expect a quieter winter. Questions go to the finance team."
    ),
    "short": "Hello there. This is a short one.",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEXTS))
@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "wav"])
def test_a_real_voice_streams_at_the_target(tmp_path: Path, name: str, fmt: str):
    data = b"".join(stream_bytes(TEXTS[name], format=fmt, voice="joe"))
    path = tmp_path / f"{name}.{fmt}"
    path.write_bytes(data)
    measured = ebur128(path)
    assert abs(measured.integrated - -18.0) <= TOLERANCE_LU, measured
    assert measured.true_peak <= -2.0, measured


def test_the_planner_copes_when_limiting_makes_loudness_fall_with_gain():
    # The blocks of a stream's first 2.9 s (joe: a lead-in, "Hello there." and a pause),
    # whose predicted loudness under a -3.5 dBTP ceiling rises and falls with the gain:
    # the secant method ran off to NaN there, and the stream went out as NaN.
    from narrator.loudness import ArrayBlocks, Limiter
    from narrator.mastering import plan_gain, predict_loudness

    data = np.load(Path(__file__).parent / "data" / "short-programme-blocks.npz")
    blocks = ArrayBlocks(data["peaks_db"], data["energies"])
    for ceiling in (-3.5, -2.2):
        gain = plan_gain(blocks, 22_050, -18.0, ceiling)
        loudness = predict_loudness(blocks, 22_050, gain, Limiter(22_050, ceiling))
        assert abs(loudness - -18.0) < 0.5


@pytest.mark.parametrize("fmt", ["mp3", "pcm"])
def test_cancel_ends_an_encoded_stream_early_and_cleanly(fake_voice, fmt: str):
    # A server sets *cancel* from another thread when its client goes away.
    cancel = threading.Event()
    chunks = stream_bytes(STORY, format=fmt, voice=fake_voice, cancel=cancel)
    first = next(chunks)
    cancel.set()
    rest = b"".join(chunks)  # what was made already, then the end: no error
    assert first and LAST not in FakeEngine.calls
    full = b"".join(stream_bytes(STORY, format=fmt, voice=fake_voice))
    assert len(first + rest) < len(full)
