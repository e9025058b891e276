"""The clip cache: keys, damaged entries, resuming, editing, ``--no-cache`` and ``narrator cache``.

Everything here runs on the fake engine, whose clips are deterministic, so a narration
made from cached clips can be compared sample for sample with one made from scratch.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator import narrate
from narrator.cache import CACHE_DIR_ENV, ClipCache, cache_dir, clip_key
from narrator.cli import cli
from narrator.engines import load_engine
from narrator.synthesis import Synthesizer
from narrator.voices import Voice, load_voice

from .fake_engine import FakeEngine

SENTENCES = [
    "The keeper climbed the stairs.", "The lamp was cold.", "He struck a match.",
    "The flame caught at once.", "Outside the storm kept on.", "The boats were late.",
    "At dawn the sea was calm.", "The keeper slept at last.",
]  # fmt: skip
TEXT = " ".join(SENTENCES[:4]) + "\n\n" + " ".join(SENTENCES[4:]) + "\n"
N = len(SENTENCES)


@pytest.fixture
def story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "story.txt"
    path.write_text(TEXT)
    return path


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def read_json(args: list[str]) -> dict[str, object]:
    """``narrator read ARGS --json`` with the fake voice: the summary it prints on stdout."""
    result = invoke(["read", *args, "--voice", "fake", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert isinstance(summary, dict)
    return summary


def clip_files(directory: Path | None = None) -> dict[str, bytes]:
    """Every clip file in the cache (the configured one by default): name -> content."""
    clips = (directory or cache_dir()) / "clips"
    return {p.name: p.read_bytes() for p in sorted(clips.rglob("*.clip"))}


def samples(path: Path) -> np.ndarray:
    audio, _ = sf.read(path, dtype="int16")
    return audio


def fake(**changes: object) -> Voice:
    base = Voice(name="fake", engine="fake", model="tone", language="en", description="tone")
    return replace(base, **changes) if changes else base


def identity(voice: Voice, engine: dict[str, object] | None = None) -> dict[str, object]:
    """What the synthesizer keys clips by: the engine's description and the voice's sound."""
    described = engine if engine is not None else FakeEngine(voice).describe()
    return {"engine": described, "voice": voice.sound_identity()}


# ClipCache on its own


def test_put_then_get_returns_the_same_samples(tmp_path: Path):
    cache = ClipCache(tmp_path / "c")
    clip = np.sin(np.linspace(0, 100, 12_345)).astype(np.float32)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, clip)
    got = cache.get("ab" * 32)
    assert got is not None and got.dtype == np.float32
    np.testing.assert_array_equal(got, clip)
    assert cache.usage() == (1, len(clip) * 4 + 36)
    assert (cache.stats.hits, cache.stats.misses, cache.stats.corrupt) == (1, 1, 0)
    assert [p.suffix for p in (tmp_path / "c").rglob("*") if p.is_file()] == [".clip"]


def test_an_empty_clip_round_trips(tmp_path: Path):
    cache = ClipCache(tmp_path)
    cache.put("00" * 32, np.zeros(0, dtype=np.float32))
    got = cache.get("00" * 32)
    assert got is not None and len(got) == 0


def test_put_replaces_an_entry(tmp_path: Path):
    cache = ClipCache(tmp_path)
    cache.put("cd" * 32, np.ones(10, dtype=np.float32))
    cache.put("cd" * 32, np.full(5, 0.5, dtype=np.float32))
    np.testing.assert_array_equal(cache.get("cd" * 32), np.full(5, 0.5, dtype=np.float32))
    assert cache.usage()[0] == 1


def test_an_unwritable_cache_only_costs_the_cache(tmp_path: Path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = ClipCache(blocker)
    with caplog.at_level(logging.WARNING, logger="narrator.cache"):
        cache.put("ef" * 32, np.ones(4, dtype=np.float32))
    assert cache.get("ef" * 32) is None
    assert "could not write to the clip cache" in caplog.text


def _corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "truncated-to-whole-samples":
        path.write_bytes(bytes(data[: 36 + (len(data) - 36) // 8 * 4]))
    elif how == "flipped-sample":
        data[36 + 4 * ((len(data) - 36) // 8) + 3] ^= 0x40  # the exponent of a middle sample
        path.write_bytes(bytes(data))
    elif how == "flipped-checksum":
        data[10] ^= 0x01
        path.write_bytes(bytes(data))
    elif how == "bad-magic":
        data[0:4] = b"RIFF"
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")
    else:  # pragma: no cover
        raise ValueError(how)


CORRUPTIONS = ["truncated", "truncated-to-whole-samples", "flipped-sample", "flipped-checksum",
               "bad-magic", "empty"]  # fmt: skip


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_damaged_entry_is_detected_and_removed(tmp_path: Path, caplog, how: str):
    cache = ClipCache(tmp_path)
    key = "12" * 32
    cache.put(key, np.linspace(-0.5, 0.5, 2000, dtype=np.float32))
    path = next(tmp_path.rglob("*.clip"))
    _corrupt(path, how)
    with caplog.at_level(logging.WARNING, logger="narrator.cache"):
        assert cache.get(key) is None
    assert "damaged cache entry" in caplog.text
    assert not path.exists()
    assert cache.stats.corrupt == 1


def test_clear_removes_clips_and_leftovers(tmp_path: Path):
    cache = ClipCache(tmp_path)
    for n in range(3):
        cache.put(f"{n:02d}" * 32, np.ones(100, dtype=np.float32))
    (tmp_path / "clips" / "00" / "stale.tmp").write_bytes(b"a write that was interrupted")
    assert cache.clear() == 3
    assert cache.usage() == (0, 0)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_folder_removed_while_storing_is_made_again(tmp_path: Path, monkeypatch, caplog):
    """``narrator cache --clear`` between making a clip's folder and writing into it."""
    import shutil
    import tempfile

    cache = ClipCache(tmp_path / "c")
    real = tempfile.mkstemp
    cleared: list[str] = []

    def clear_first(**kwargs: str) -> tuple[int, str]:
        if not cleared:
            cleared.append(kwargs["dir"])
            shutil.rmtree(tmp_path / "c")
        return real(**kwargs)

    monkeypatch.setattr("narrator.cache.tempfile.mkstemp", clear_first)
    with caplog.at_level(logging.WARNING, logger="narrator.cache"):
        cache.put("ab" * 32, np.ones(8, dtype=np.float32))
    assert cleared and caplog.text == ""
    np.testing.assert_array_equal(cache.get("ab" * 32), np.ones(8, dtype=np.float32))


def _as_nobody(args: list[str]) -> tuple[int, str, str]:
    """``narrator ARGS`` (in a forked child without root's powers when run as root): exit
    code, stdout and stderr."""
    import os

    if os.geteuid() != 0:
        result = CliRunner().invoke(cli, args, prog_name="narrator")
        return result.exit_code, result.stdout, result.stderr
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = CliRunner().invoke(cli, args, prog_name="narrator")
            os.write(write, json.dumps([result.exit_code, result.stdout, result.stderr]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    code, out, err = json.loads(data)
    return code, out, err


@pytest.fixture
def open_folder(tmp_path: Path):
    """A folder that a user without root's powers can enter (tmp_path's parents are not)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="narrator-test-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_the_cache_command_on_a_folder_it_cannot_enter(open_folder: Path, monkeypatch):
    cache = ClipCache(open_folder / "cache")
    cache.put("ab" * 32, np.ones(8, dtype=np.float32))
    (open_folder / "cache").chmod(0)
    monkeypatch.setenv(CACHE_DIR_ENV, str(open_folder / "cache"))
    code, out, err = _as_nobody(["cache"])
    assert (code, out) == (1, "")
    assert err == (f"narrator: error: cannot read the cache in {open_folder / 'cache'}: "
                   f"Permission denied: {open_folder / 'cache' / 'clips'}\n")  # fmt: skip


def test_the_cache_command_under_a_file_is_one_error_line(tmp_path: Path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "file" / "cache"))
    for args in (["cache"], ["cache", "--clear"]):
        result = CliRunner().invoke(cli, args, prog_name="narrator")
        assert result.exit_code == 1
        assert result.stderr.startswith("narrator: error: c")
        assert f"Not a directory: {tmp_path / 'file' / 'cache' / 'clips'}" in result.stderr
        assert result.stderr.count("\n") == 1


def test_clearing_a_read_only_cache_is_a_failure(open_folder: Path, monkeypatch):
    cache = ClipCache(open_folder / "cache")
    for n in range(3):
        cache.put(f"{n:02d}" * 32, np.ones(8, dtype=np.float32))
    for folder in (open_folder / "cache" / "clips").iterdir():
        folder.chmod(0o555)
    monkeypatch.setenv(CACHE_DIR_ENV, str(open_folder / "cache"))
    code, out, err = _as_nobody(["cache", "--clear"])
    assert (code, out) == (1, "")
    assert err.startswith(f"narrator: error: could not clear the cache in {open_folder / 'cache'}"
                          ": Permission denied: ")  # fmt: skip
    assert err.endswith(" and 2 more; 0 clips removed\n")
    assert cache.usage()[0] == 3


# Keys


def test_the_key_follows_the_text():
    voice = fake()
    assert clip_key("One.", identity(voice)) != clip_key("Two.", identity(voice))
    assert clip_key("One.", identity(voice)) == clip_key("One.", identity(fake()))
    assert re.fullmatch(r"[0-9a-f]{64}", clip_key("One.", identity(voice)))


@pytest.mark.parametrize(
    "changes",
    [{"speed": 1.25}, {"speaker": "p225"}, {"options": {"noise_scale": 0}}, {"seed": 7},
     {"seed": 0}, {"model": "other-tone"}, {"language": "de"}, {"speaker_wav": ("me.wav",)},
     {"engine": "other"}],
    ids=lambda c: next(iter(c)),
)  # fmt: skip
def test_the_key_follows_everything_that_changes_the_sound(changes: dict[str, object]):
    base = clip_key("One.", identity(fake()))
    assert clip_key("One.", identity(fake(**changes))) != base


@pytest.mark.parametrize("changes", [{"name": "renamed"}, {"description": "another line"}])
def test_the_key_ignores_what_does_not_change_the_sound(changes: dict[str, object]):
    assert clip_key("One.", identity(fake(**changes))) == clip_key("One.", identity(fake()))


@pytest.mark.parametrize(
    "described",
    [{"engine": "fake", "sample_rate": 22_050}, {"engine": "fake", "sample_rate": 16_000,
     "version": "2.0"}, {"engine": "other", "sample_rate": 16_000}],
)  # fmt: skip
def test_the_key_follows_the_engine_identity(described: dict[str, object]):
    base = clip_key("One.", identity(fake()))
    assert clip_key("One.", identity(fake(), described)) != base


def test_the_key_follows_a_local_model_file(tmp_path: Path):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"weights, version one")
    voice = fake(model=str(model))
    before = clip_key("One.", identity(voice))
    model.write_bytes(b"weights, version two, retrained")
    assert clip_key("One.", identity(voice)) != before


# Through the pipeline


def test_a_rerun_takes_every_clip_from_the_cache(fake_voice, tmp_path: Path):
    first = narrate(TEXT, tmp_path / "first.wav", voice=fake_voice)
    assert (first.stats.synthesized, first.stats.cache_hits) == (N, 0)
    assert len(clip_files()) == N
    FakeEngine.calls.clear()
    second = narrate(TEXT, tmp_path / "second.wav", voice=fake_voice)
    assert (second.stats.synthesized, second.stats.cache_hits) == (0, N)
    assert FakeEngine.calls == []
    np.testing.assert_array_equal(samples(tmp_path / "second.wav"), samples(tmp_path / "first.wav"))


@pytest.mark.parametrize(
    "changes",
    [{"speed": 1.25}, {"speaker": "b"}, {"options": {"brightness": 2}}, {"seed": 3}],
    ids=lambda c: next(iter(c)),
)  # fmt: skip
def test_changing_the_voice_synthesizes_again(fake_voice, changes: dict[str, object]):
    voice = load_voice(fake_voice)
    narrate(TEXT, None, voice=voice)
    again = narrate(TEXT, None, voice=replace(voice, **changes))
    assert (again.stats.synthesized, again.stats.cache_hits) == (N, 0)
    renamed = narrate(TEXT, None, voice=replace(voice, name="copy", description="a copy"))
    assert (renamed.stats.synthesized, renamed.stats.cache_hits) == (0, N)


def test_a_new_engine_version_synthesizes_again(fake_voice, monkeypatch: pytest.MonkeyPatch):
    narrate(TEXT, None, voice=fake_voice)
    described = FakeEngine.describe
    monkeypatch.setattr(FakeEngine, "describe", lambda self: {**described(self), "version": "2"})
    again = narrate(TEXT, None, voice=fake_voice)
    assert (again.stats.synthesized, again.stats.cache_hits) == (N, 0)


def test_editing_two_sentences_synthesizes_only_those(fake_voice):
    narrate(TEXT, None, voice=fake_voice)
    edited = TEXT.replace("The lamp was cold.", "The lamp was warm.").replace(
        "The boats were late.", "The boats came home."
    )
    FakeEngine.calls.clear()
    again = narrate(edited, None, voice=fake_voice)
    assert (again.stats.synthesized, again.stats.cache_hits) == (2, N - 2)
    assert FakeEngine.calls == ["The lamp was warm.", "The boats came home."]
    assert len(clip_files()) == N + 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_damaged_entries_are_made_again_never_played(fake_voice, tmp_path: Path, caplog, jobs):
    clean = narrate(TEXT, tmp_path / "clean.wav", voice=fake_voice)
    assert clean.stats.synthesized == N
    paths = sorted((cache_dir() / "clips").rglob("*.clip"))
    good = {p: p.read_bytes() for p in paths}
    _corrupt(paths[1], "truncated-to-whole-samples")
    _corrupt(paths[5], "flipped-sample")

    cache = ClipCache()
    with caplog.at_level(logging.WARNING, logger="narrator.cache"):
        again = narrate(TEXT, tmp_path / "again.wav", voice=fake_voice, cache=cache, jobs=jobs)
    # What was played is what the engine makes, not the damaged bytes ...
    np.testing.assert_array_equal(samples(tmp_path / "again.wav"), samples(tmp_path / "clean.wav"))
    assert (again.stats.synthesized, again.stats.cache_hits) == (2, N - 2)
    assert cache.stats.corrupt == 2
    assert caplog.text.count("damaged cache entry") == 2
    # ... and the entries were made again, whole.
    assert {p: p.read_bytes() for p in paths} == good


def test_the_synthesizer_never_yields_a_damaged_clip(fake_voice):
    voice = load_voice(fake_voice)
    engine = load_engine(voice)
    chunked = [[s] for s in SENTENCES]
    expected = [engine.synthesize(s) for s in SENTENCES]
    list(Synthesizer(voice, engine=engine, cache=ClipCache()).clips(chunked))
    for path in (cache_dir() / "clips").rglob("*.clip"):
        _corrupt(path, "flipped-sample")
    synthesizer = Synthesizer(voice, engine=engine, cache=ClipCache())
    got = list(synthesizer.clips(chunked))
    assert synthesizer.stats.synthesized == N
    for clip, wanted in zip(got, expected, strict=True):  # one clip per chunk
        np.testing.assert_array_equal(clip, wanted)


def test_parallel_runs_share_the_cache(fake_voice, tmp_path: Path):
    first = narrate(TEXT, tmp_path / "one.wav", voice=fake_voice, jobs=2)
    assert (first.stats.synthesized, first.stats.cache_hits) == (N, 0)
    second = narrate(TEXT, tmp_path / "two.wav", voice=fake_voice, jobs=1)
    assert (second.stats.synthesized, second.stats.cache_hits) == (0, N)
    np.testing.assert_array_equal(samples(tmp_path / "two.wav"), samples(tmp_path / "one.wav"))


# The command line


def test_read_json_rerun_is_all_cache_hits(fake_voice, story: Path):
    first = read_json(["story.txt", "-o", "first.wav"])
    assert (first["sentences"], first["synthesized"], first["cache_hits"]) == (N, N, 0)
    second = read_json(["story.txt", "-o", "second.wav"])
    assert (second["sentences"], second["synthesized"], second["cache_hits"]) == (N, 0, N)
    assert second["duration"] == first["duration"]


def test_read_json_after_an_edit(fake_voice, story: Path):
    read_json(["story.txt", "-o", "first.wav"])
    story.write_text(TEXT.replace("He struck a match.", "He struck two matches.")
                     .replace("At dawn the sea was calm.", "At dawn the wind fell."))  # fmt: skip
    FakeEngine.calls.clear()
    summary = read_json(["story.txt", "-o", "second.wav"])
    assert (summary["synthesized"], summary["cache_hits"]) == (2, N - 2)
    assert FakeEngine.calls == ["He struck two matches.", "At dawn the wind fell."]


def test_no_cache_neither_writes_nor_reads(fake_voice, story: Path):
    summary = read_json(["story.txt", "-o", "a.wav", "--no-cache"])
    assert (summary["synthesized"], summary["cache_hits"]) == (N, 0)
    assert clip_files() == {}

    read_json(["story.txt", "-o", "b.wav"])  # fills the cache
    filled = clip_files()
    times = {p: p.stat().st_mtime_ns for p in (cache_dir() / "clips").rglob("*")}
    assert len(filled) == N
    summary = read_json(["story.txt", "-o", "c.wav", "--no-cache"])
    assert (summary["synthesized"], summary["cache_hits"]) == (N, 0)
    assert clip_files() == filled
    assert {p: p.stat().st_mtime_ns for p in (cache_dir() / "clips").rglob("*")} == times
    np.testing.assert_array_equal(samples(story.parent / "c.wav"), samples(story.parent / "b.wav"))


def test_cache_command_shows_and_clears(fake_voice, story: Path):
    directory = cache_dir()
    result = invoke(["cache"])
    assert result.exit_code == 0
    assert result.output == f"{directory}: 0 clips, 0.0 MB\n"

    read_json(["story.txt", "-o", "out.wav"])
    pieces = [p for p in (directory / "pieces").rglob("*") if p.is_file()]
    assert pieces  # the mastered pieces of the WAV are kept too, and counted
    size = sum(len(data) for data in clip_files().values()) + sum(p.stat().st_size for p in pieces)
    result = invoke(["cache"])
    assert result.output == f"{directory}: {N} clips, {size / 1e6:.1f} MB\n"

    result = invoke(["cache", "--clear"])
    assert result.exit_code == 0
    assert result.output == f"removed {N} clips from {directory}\n"
    assert clip_files() == {}
    assert not [p for p in (directory / "pieces").rglob("*") if p.is_file()]
    assert invoke(["cache"]).output == f"{directory}: 0 clips, 0.0 MB\n"
    summary = read_json(["story.txt", "-o", "again.wav"])
    assert (summary["synthesized"], summary["cache_hits"]) == (N, 0)


def test_cache_dir_env_is_respected(
    fake_voice, story: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    chosen = tmp_path / "elsewhere" / "clips-here"
    monkeypatch.setenv(CACHE_DIR_ENV, str(chosen))
    assert cache_dir() == chosen
    read_json(["story.txt", "-o", "out.wav"])
    assert len(clip_files(chosen)) == N
    assert invoke(["cache"]).output.startswith(f"{chosen}: {N} clips, ")


def test_cache_dir_env_expands_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(CACHE_DIR_ENV, "~/narrator-clips")
    assert cache_dir() == tmp_path / "narrator-clips"


def test_the_default_cache_follows_xdg_cache_home(
    fake_voice, story: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "narrator"
    read_json(["story.txt", "-o", "out.wav"])
    assert len(clip_files(tmp_path / "xdg" / "narrator")) == N
    assert invoke(["cache"]).output.startswith(f"{tmp_path / 'xdg' / 'narrator'}: {N} clips")


def test_without_xdg_the_cache_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "narrator"
