"""Mastering in pieces: MP3 pieces that join into one valid file, and reuse after an edit."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from narrator import narrate, pieces
from narrator.cache import ClipCache
from narrator.engines import register_engine, unregister_engine
from narrator.pieces import (
    ENCODER_DELAY,
    MP3_FRAME,
    Mp3Pieces,
    PieceMaster,
    _decode_mp3,
    _run,
    crc16,
    cut_in_gap,
    mp3_frames,
    mp3_info_frame,
)
from narrator.pipeline import ProgressEvent
from narrator.rendering import AudioFormat, Rendering

from .audio import decode_ffmpeg, decode_soundfile, ebur128, rms_envelope_db
from .fake_engine import FakeEngine

RATE = 22_050


class PiperRateEngine(FakeEngine):
    """The fake engine at Piper's usual rate, whose pieces lie on a fine MP3 grid."""

    name = "fake22"
    sample_rate = RATE

    def synthesize(self, text: str) -> np.ndarray:
        clip = super().synthesize(text)
        # Same tone, at 22.05 kHz: stretch the 16 kHz clip by index (a pitch change
        # does not matter here), and vary its level with the text so pieces differ.
        index = np.arange(round(len(clip) * RATE / 16_000)) * 16_000 // RATE
        level = 0.6 + 0.4 * (sum(map(ord, text)) % 7) / 7
        return (clip[index] * level).astype(np.float32)


PRESET = 'name = "fake22"\nengine = "fake22"\nmodel = "none"\nlanguage = "en_US"\n' \
         'description = "fake engine at 22.05 kHz"\n'  # fmt: skip


@pytest.fixture
def voice22(user_dirs: Path):
    register_engine("fake22", PiperRateEngine)
    (user_dirs / "fake22.toml").write_text(PRESET)
    yield "fake22"
    unregister_engine("fake22")


def chapter_text(edit: str | None = None) -> str:
    """Twelve short paragraphs of distinct sentences (about 90 s of fake speech)."""
    paragraphs = []
    for p in range(12):
        sentences = [f"Paragraph {p} sentence {s} says a few plain words." for s in range(3)]
        if edit is not None and p == 6:
            sentences[1] = edit
        paragraphs.append(" ".join(sentences))
    return "# A chapter\n\n" + "\n\n".join(paragraphs) + "\n"


def test_cut_in_gap_snaps_fine_grids_and_only_uses_coarse_ones_where_they_fall() -> None:
    grid = 576
    for end in range(10_000, 10_000 + 2 * grid, 37):
        cut, gap = cut_in_gap(end, 8_820, grid, RATE)
        assert cut % grid == 0
        assert abs(gap - 8_820) <= grid // 2  # the pause moves by at most half the grid
        assert cut + round(0.2 * RATE) == end + gap  # the next speech starts a hold later
    assert cut_in_gap(10_000, 4_000, grid, RATE) is None  # too short a pause for a cut
    coarse = 30_720
    cut = cut_in_gap(27_000, 22_050, coarse, RATE)
    assert cut == (30_720, 22_050)  # inside the pause; the pause is not moved
    assert cut_in_gap(31_000, 8_820, coarse, RATE) is None


def test_the_lame_info_frame() -> None:
    frame = mp3_info_frame(44_100, 96, frames=100, audio_bytes=31_347, samples=113_000)
    assert frame[:4] == bytes([0xFF, 0xFB, 0x70, 0xC0])
    assert len(frame) == 313 and frame[21:25] == b"Info"
    assert int.from_bytes(frame[29:33], "big") == 100
    assert int.from_bytes(frame[33:37], "big") == 313 + 31_347
    assert frame[141:150] == b"LAME3.100"
    delay_padding = int.from_bytes(frame[162:165], "big")
    assert delay_padding >> 12 == ENCODER_DELAY
    assert delay_padding & 0xFFF == 100 * MP3_FRAME - ENCODER_DELAY - 113_000
    assert int.from_bytes(frame[175:177], "big") == crc16(frame[:175])


def test_crc16_matches_the_check_value() -> None:
    assert crc16(b"123456789") == 0xBB3D  # CRC-16/ARC


@pytest.mark.parametrize("rate", [22_050, 24_000, 16_000, 44_100])
def test_the_mp3_grid_is_a_whole_number_of_frames(rate: int) -> None:
    form = Mp3Pieces(rate, 96)
    assert form.grid % 32 == 0
    assert form.grid * form.rate % (rate * MP3_FRAME) == 0
    assert form.pre % form.grid == 0 and form.pre * form.rate >= 2 * MP3_FRAME * rate


def test_mp3_pieces_join_into_one_gapless_file(voice22, tmp_path: Path) -> None:
    out = tmp_path / "chapter.mp3"
    narration = narrate(chapter_text(), out, voice=voice22)
    assert narration.mastered.pieces >= 3
    data = out.read_bytes()
    assert data[:3] == b"ID3"  # the tags, then the frames
    start = 10 + sum(byte << 7 * (3 - i) for i, byte in enumerate(data[6:10]))  # syncsafe
    frames = mp3_frames(data[start:])  # every frame is whole; the first is the Info tag
    assert frames[0][21:25] == b"Info"
    # Both decoders honour the encoder delay and padding: exactly the narration's length.
    expected = round(narration.duration * 44_100)
    by_soundfile, by_ffmpeg = decode_soundfile(out), decode_ffmpeg(out)
    assert len(by_soundfile.audio) == len(by_ffmpeg.audio) == expected
    # The joins lie in pauses: nothing but room tone may be heard between sentences,
    # and every sentence is where the narration says it is.
    envelope = rms_envelope_db(by_ffmpeg.audio, 44_100)
    frame = 0.010
    for before, after in zip(narration.spans, narration.spans[1:], strict=False):
        quiet = envelope[
            round(before.end / RATE / frame) + 3 : round(after.start / RATE / frame) - 3
        ]
        assert quiet.max() < -50.0
        loud = envelope[
            round(before.start / RATE / frame) + 2 : round(before.end / RATE / frame) - 2
        ]
        assert loud.min() > -40.0
    measured = ebur128(out)
    assert measured.integrated == pytest.approx(-18.0, abs=0.5)
    assert measured.true_peak <= -2.0


def test_an_edit_remakes_only_the_pieces_around_it(voice22, tmp_path: Path) -> None:
    first = narrate(chapter_text(), tmp_path / "first.mp3", voice=voice22)
    edited_text = chapter_text(edit="An edited sentence, longer than the one it replaces.")
    again = narrate(edited_text, tmp_path / "again.mp3", voice=voice22)
    assert again.stats.synthesized == 1
    assert again.mastered.gain == first.mastered.gain
    assert again.mastered.pieces - again.mastered.reused <= 2
    assert again.mastered.reused >= 2
    # What comes before the edit is the same audio, sample for sample.
    edited = next(i for i, s in enumerate(again.segments) if s.text.startswith("An edited"))
    before = round((again.spans[edited - 1].start / RATE - 1.0) * 44_100)
    a, b = decode_ffmpeg(tmp_path / "first.mp3").audio, decode_ffmpeg(tmp_path / "again.mp3").audio
    assert before > 44_100
    assert np.array_equal(a[:before], b[:before])
    # ... and so is the end, which only moved.
    tail = round(5.0 * 44_100)
    assert np.array_equal(a[-tail:], b[-tail:])
    assert ebur128(tmp_path / "again.mp3").integrated == pytest.approx(-18.0, abs=0.5)


def test_a_damaged_piece_is_made_again(voice22, tmp_path: Path, caplog) -> None:
    narrate(chapter_text(), tmp_path / "first.mp3", voice=voice22)
    pieces = sorted((Path(os.environ["NARRATOR_CACHE_DIR"]) / "pieces").rglob("*.piece"))
    assert pieces
    for piece in pieces:  # the last bytes are audio: only the checksum can tell
        piece.write_bytes(piece.read_bytes()[:-10] + b"0123456789")
    again = narrate(chapter_text(), tmp_path / "again.mp3", voice=voice22)
    assert "damaged cache entry" in caplog.text
    assert again.mastered.reused == 0
    assert (tmp_path / "first.mp3").read_bytes() == (tmp_path / "again.mp3").read_bytes()


def test_wav_pieces_are_plain_pcm_of_the_right_length(voice22, tmp_path: Path) -> None:
    out = tmp_path / "chapter.wav"
    narration = narrate(chapter_text(), out, voice=voice22)
    assert narration.mastered.pieces >= 3
    decoded = decode_soundfile(out)
    assert decoded.rate == RATE
    assert len(decoded.audio) == round(narration.duration * RATE)
    assert ebur128(out).integrated == pytest.approx(-18.0, abs=0.5)


def test_an_unwritable_cache_only_costs_the_cache(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(blocker))
    out = tmp_path / "chapter.mp3"
    narration = narrate(chapter_text(), out, voice=voice22)
    assert "cannot keep mastered pieces" in caplog.text
    assert "could not write to the clip cache" in caplog.text
    assert len(decode_ffmpeg(out).audio) == round(narration.duration * 44_100)


def test_mastering_while_synthesizing(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # Pieces are planned and mastered in the background during synthesis (on a spare
    # core with one engine thread here), and made again when the plan moves.
    monkeypatch.setenv("NARRATOR_ENGINE_THREADS", "1")
    text = chapter_text() + "\n\n" + chapter_text().replace("Paragraph", "Part")
    with caplog.at_level(logging.DEBUG, logger="narrator.pieces"):
        ahead = narrate(text, tmp_path / "ahead.mp3", voice=voice22, cache=False)
    assert "planned gain" in caplog.text
    assert ahead.mastered.pieces >= 6
    # Whatever the background threads' timing, every plan sees the same audio and the
    # same learning pieces: the same file every time.
    narrate(text, tmp_path / "again.mp3", voice=voice22, cache=False)
    assert (tmp_path / "again.mp3").read_bytes() == (tmp_path / "ahead.mp3").read_bytes()
    monkeypatch.setenv("NARRATOR_ENGINE_THREADS", "2")
    after = narrate(text, tmp_path / "after.mp3", voice=voice22, cache=False)
    assert ahead.spans == after.spans
    for name, narration in (("ahead", ahead), ("after", after)):
        measured = ebur128(tmp_path / f"{name}.mp3")
        assert measured.integrated == pytest.approx(-18.0, abs=0.5)
        assert measured.true_peak <= -2.0
        assert abs(narration.mastered.loudness - measured.integrated) < 0.15
        assert len(decode_ffmpeg(tmp_path / f"{name}.mp3").audio) == round(
            narration.duration * 44_100
        )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities")
def test_no_piece_is_made_at_a_lower_priority_than_the_narration(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At the lowest priority, background pieces (and their encoders) starved behind other
    # programs on a busy machine, and the final file waited for them.  No core to spare:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    made: list[tuple[str, int]] = []
    make = PieceMaster._make

    def spy(self: PieceMaster, job: Any) -> Any:
        thread = threading.current_thread().name
        made.append((thread, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return make(self, job)

    monkeypatch.setattr(PieceMaster, "_make", spy)
    text = chapter_text() + "\n\n" + chapter_text().replace("Paragraph", "Part")
    narrate(text, tmp_path / "story.mp3", voice=voice22, cache=False)
    assert any(thread.startswith("narrator-background") for thread, _ in made)
    assert {nice for _, nice in made} == {os.getpriority(os.PRIO_PROCESS, 0)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities")
def test_the_pieces_that_teach_the_codec_are_made_first_at_normal_priority(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The next checkpoint waits for them: made at the lowest priority, they would
    # only get the CPU once the engine ran out of work.
    made: list[tuple[bool, str, int]] = []
    make = PieceMaster._make

    def spy(self: PieceMaster, job: Any) -> Any:
        thread = threading.current_thread().name
        made.append((job.learn, thread, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return make(self, job)

    monkeypatch.setattr(PieceMaster, "_make", spy)
    text = chapter_text() + "\n\n" + chapter_text().replace("Paragraph", "Part")
    narrate(text, tmp_path / "story.mp3", voice=voice22, cache=False)
    learn, thread, nice = made[0]
    assert learn and thread.startswith("narrator-learn")
    assert nice == os.getpriority(os.PRIO_PROCESS, 0) < 19
    assert any(not learn for learn, _, _ in made)


def test_mp3_pieces_decode_without_libsndfile_mp3_too(monkeypatch: pytest.MonkeyPatch) -> None:
    form = Mp3Pieces(RATE, 96)
    t = np.arange(3 * RATE) / RATE
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    _kept, encoded = form.encode(audio, 0, len(audio), True)
    in_process = _decode_mp3(encoded)

    def no_mp3(*args: object, **kwargs: object) -> None:
        raise sf.LibsndfileError(1, "Format not recognised")

    runs = []

    def run(command: list[str], data: bytes, what: str) -> bytes:
        runs.append(what)
        return _run(command, data, what)

    monkeypatch.setattr(sf, "read", no_mp3)
    monkeypatch.setattr(pieces, "_run", run)
    by_ffmpeg = _decode_mp3(encoded)
    assert runs == ["the MP3 decoder"]
    assert len(in_process) == len(by_ffmpeg) > 3 * 44_100
    assert np.abs(in_process - by_ffmpeg).max() < 1e-4  # the same samples, aligned


def test_a_piece_made_at_an_old_gain_cannot_leave_its_gain_for_the_next_run(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a busy machine a background piece planned at an earlier gain may finish after
    # the final pass.  Here that is made certain: the first piece's background job waits
    # until the final pass has made that piece at the final gain.
    final_first_made = threading.Event()
    held: list[float] = []
    make = PieceMaster._make

    def late(self: PieceMaster, job: Any) -> Any:
        background = threading.current_thread().name.startswith("narrator-background")
        if job.index == 0 and background:
            held.append(job.gain)
            final_first_made.wait(timeout=60)
        made = make(self, job)
        if job.index == 0 and not background:
            final_first_made.set()
        return made

    monkeypatch.setattr(PieceMaster, "_make", late)
    first = narrate(chapter_text(), tmp_path / "first.wav", voice=voice22)
    assert held and final_first_made.is_set()
    assert held[-1] != first.mastered.gain  # the late piece was made at an old gain
    monkeypatch.setattr(PieceMaster, "_make", make)
    again = narrate(chapter_text(), tmp_path / "again.wav", voice=voice22)
    assert again.mastered.gain == first.mastered.gain
    assert again.mastered.reused == again.mastered.pieces
    assert (tmp_path / "first.wav").read_bytes() == (tmp_path / "again.wav").read_bytes()


@pytest.mark.parametrize("suffix", ["mp3", "wav"])
def test_clearing_the_cache_during_a_narration_costs_only_the_cache(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, caplog
) -> None:
    # `narrator cache --clear` in another terminal: once while pieces are being made,
    # and once more just before the stored pieces are joined into the file.
    reference = narrate(chapter_text(), tmp_path / f"reference.{suffix}", voice=voice22,
                        cache=False)  # fmt: skip
    cache = ClipCache()
    cleared: list[int] = []

    def clear_halfway(event: ProgressEvent) -> None:
        if event.done == event.total // 2:
            cleared.append(cache.clear())

    form = type(pieces.piece_format(Rendering(format=AudioFormat(suffix)), RATE))
    write = form.write

    def clear_then_write(self: Any, destination: Path, payloads: Any, samples: int) -> None:
        cleared.append(cache.clear())
        assert not list(cache.pieces.rglob("*.piece"))
        write(self, destination, payloads, samples)

    monkeypatch.setattr(form, "write", clear_then_write)
    out = tmp_path / f"story.{suffix}"
    narration = narrate(chapter_text(), out, voice=voice22, progress=clear_halfway)
    assert len(cleared) == 2 and cleared[0] > 0  # clips were there to clear
    assert "is gone from" in caplog.text  # the pieces were made again
    assert narration.mastered.gain == reference.mastered.gain
    assert out.read_bytes() == (tmp_path / f"reference.{suffix}").read_bytes()
    assert len(decode_ffmpeg(out).audio) == round(narration.duration * decode_ffmpeg(out).rate)


def test_a_store_whose_folder_goes_keeps_pieces_again_or_elsewhere(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "pieces"
    store = pieces.PieceStore(folder)
    measured = pieces.Measured(3, np.array([0.5, 0.25]), 0.7)
    store.put("aa" * 32, b"first", measured)
    shutil.rmtree(folder)  # cleared: the folder is made again
    store.put("bb" * 32, b"second", measured)
    assert store.payload("bb" * 32) == b"second" and store.directory == folder
    assert store.payload("aa" * 32) is None and store.get("aa" * 32) is None
    shutil.rmtree(folder)
    folder.write_text("a file where the folder was")  # it cannot be made again
    store.put("cc" * 32, b"third", measured)
    assert "cannot keep mastered pieces" in caplog.text
    assert store.directory != folder
    found = store.get("cc" * 32)
    assert found is not None and found.first_step == 3 and found.peak == 0.7
    assert store.payload("cc" * 32) == b"third"
    temporary = store.directory
    store.close()
    assert not temporary.exists()


def long_text(paragraphs: int, sentences: int) -> str:
    line = "Part {} line {} says a few plain words."
    return "\n\n".join(" ".join(line.format(p, s) for s in range(sentences))
                       for p in range(paragraphs)) + "\n"  # fmt: skip


@pytest.mark.parametrize(
    ("suffix", "sentence", "paragraph", "text"),
    [
        ("mp3", 0.3, 0.3, long_text(16, 5)),  # no pause long enough to cut in
        ("wav", 0.3, 0.3, long_text(16, 5)),
        ("mp3", 0.0, 0.0, long_text(16, 5)),  # no pause at all
        ("mp3", 0.3, 1.0, long_text(3, 22)),  # a pause to cut in only every minute
    ],
)
def test_pieces_stay_short_whatever_the_pauses(
    voice22, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, sentence: float,
    paragraph: float, text: str,
) -> None:  # fmt: skip
    lengths: list[float] = []
    finish = PieceMaster.finish

    def spy(self: PieceMaster, *args: Any) -> Any:
        mastered = finish(self, *args)
        ends = [*self.boundaries, self.programme.length]
        lengths.extend((b - a) / self.rate for a, b in zip(ends, ends[1:], strict=False))
        return mastered

    monkeypatch.setattr(PieceMaster, "finish", spy)
    rendering = Rendering(sentence_pause=sentence, paragraph_pause=paragraph,
                          heading_pause=paragraph)  # fmt: skip
    out = tmp_path / f"book.{suffix}"
    narration = narrate(text, out, voice=voice22, rendering=rendering, cache=False)
    assert narration.duration > 150
    assert narration.mastered.pieces == len(lengths) > narration.duration / pieces.LONGEST_PIECE
    assert max(lengths) < pieces.LONGEST_PIECE
    decoded = decode_ffmpeg(out)
    assert len(decoded.audio) == round(narration.duration * decoded.rate)
    measured = ebur128(out)
    assert measured.integrated == pytest.approx(-18.0, abs=0.5)
    assert abs(narration.mastered.loudness - measured.integrated) < 0.15
