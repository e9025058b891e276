"""Output destinations under adversity: checked before synthesis, committed together,
never replacing an input, a device, a link's target by surprise or a read-only file,
and one-line errors for full disks, long names and closed streams (issue 11)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import narrator.pipeline
from narrator import narrate
from narrator.cli import cli
from narrator.destinations import Destinations, remove_stale, scratch_prefix
from narrator.errors import OptionError, OutputError

from .audio import decode, decode_ffmpeg
from .fake_engine import FakeEngine

STORY = "# Chapter One\n\nThe cat sat. The dog ran.\n\n# Chapter Two\n\nThe end came.\n"
ROOT = Path(__file__).resolve().parent.parent

RUNNER = """\
import sys
from narrator.engines import register_engine
from tests.fake_engine import FakeEngine
register_engine("fake", FakeEngine)
from narrator.cli import main
sys.argv = ["narrator", *sys.argv[1:]]
main()
"""


@pytest.fixture
def story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "story.txt"
    path.write_text(STORY)
    return path


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def run(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[bytes]:
    """``narrator ARGS`` in a process of its own, with the fake engine registered."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=cwd, env=env,
                          timeout=120, **kwargs)  # fmt: skip


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def reference_seconds(fake_voice: str, tmp_path: Path) -> float:
    """How long STORY narrates, from an ordinary run into a fresh file."""
    folder = tmp_path / "reference"
    folder.mkdir(exist_ok=True)
    narrate(STORY, folder / "ref.wav", voice=fake_voice, cache=False)
    return decode(folder / "ref.wav").duration


# 1. Every destination is checked before synthesis and committed together.


def test_a_subtitles_error_leaves_the_existing_output_untouched(fake_voice: str, story: Path):
    (story.parent / "keep.mp3").write_bytes(b"precious")
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "keep.mp3",
                     "--subtitles", "missing-dir/s.srt"])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        "narrator: error: missing-dir/s.srt: the folder missing-dir does not exist\n"
    )
    assert (story.parent / "keep.mp3").read_bytes() == b"precious"
    assert FakeEngine.calls == []  # refused before synthesis
    assert listing(story.parent) == ["keep.mp3", "story.txt"]


def test_a_late_failure_commits_no_destination(fake_voice: str, tmp_path: Path, monkeypatch):
    (tmp_path / "book.wav").write_bytes(b"old audio")
    (tmp_path / "book.srt").write_bytes(b"old subtitles")

    def broken(*args: object) -> str:
        raise ValueError("the subtitles failed on purpose")

    monkeypatch.setattr(narrator.pipeline, "render_subtitles", broken)
    with pytest.raises(ValueError, match="on purpose"):
        narrate(STORY, tmp_path / "book.wav", voice=fake_voice, subtitles=tmp_path / "book.srt",
                split_chapters=True)  # fmt: skip
    assert (tmp_path / "book.wav").read_bytes() == b"old audio"
    assert (tmp_path / "book.srt").read_bytes() == b"old subtitles"
    assert listing(tmp_path) == ["book.srt", "book.wav"]  # no chapter file, no scratch


def test_a_failing_chapter_file_leaves_no_chapter_file(fake_voice: str, tmp_path: Path,
                                                       monkeypatch):  # fmt: skip
    real = narrator.pipeline.export_range
    calls = []

    def second_fails(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise OutputError("the second chapter failed on purpose")
        real(*args, **kwargs)

    monkeypatch.setattr(narrator.pipeline, "export_range", second_fails)
    with pytest.raises(OutputError, match="on purpose"):
        narrate(STORY, tmp_path / "book.mp3", voice=fake_voice, split_chapters=True)
    assert listing(tmp_path) == []


def test_chapter_files_are_committed_with_the_output(fake_voice: str, tmp_path: Path):
    result = narrate(STORY, tmp_path / "book.wav", voice=fake_voice, split_chapters=True)
    names = ["book-01-Chapter-One.wav", "book-02-Chapter-Two.wav"]
    assert [p.name for p in result.chapter_files] == names
    assert listing(tmp_path) == sorted(["book.wav", *names])
    whole = decode(tmp_path / "book.wav").duration
    parts = sum(decode(tmp_path / name).duration for name in names)
    assert abs(whole - parts) < 0.05


# 2. No destination is an input or another destination.


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"in.txt": STORY}, ["in.txt", "-o", "in.txt", "-f", "mp3"],
         "the output in.txt is the same file as the input in.txt; choose another name for the "
         "output"),
        ({"notes.mp3": STORY}, ["notes.mp3"],
         "the output notes.mp3 is the same file as the input notes.mp3; choose another name for "
         "the output"),
        ({"in.srt": STORY}, ["in.srt", "-o", "x.mp3", "--subtitles", "in.srt"],
         "the subtitles in.srt is the same file as the input in.srt; choose another name for "
         "the subtitles"),
        ({"in.txt": STORY}, ["in.txt", "-o", "same.srt", "-f", "mp3", "--subtitles", "same.srt"],
         "the subtitles same.srt is the same file as the output same.srt; choose another name "
         "for the subtitles"),
        ({"in.txt": STORY, "hard.mp3": "link:in.txt"}, ["in.txt", "-o", "hard.mp3"],
         "the output hard.mp3 is the same file as the input in.txt; choose another name for the "
         "output"),
        ({"in.txt": STORY, "sym.mp3": "symlink:in.txt"}, ["in.txt", "-o", "sym.mp3"],
         "the output sym.mp3 is the same file as the input in.txt; choose another name for the "
         "output"),
        ({"book-01-Chapter-One.mp3": STORY},
         ["book-01-Chapter-One.mp3", "-o", "book.mp3", "--split-chapters"],
         "the chapter file book-01-Chapter-One.mp3 is the same file as the input "
         "book-01-Chapter-One.mp3; choose another name for the chapter file"),
        ({"in.txt": STORY, "words.toml": '[words]\ncat = "kat"\n'},
         ["in.txt", "-o", "words.toml", "-f", "wav", "--lexicon", "words.toml"],
         "the output words.toml is the same file as the lexicon words.toml; choose another name "
         "for the output"),
    ],
    ids=["output", "default-output", "subtitles", "output-and-subtitles", "hard-link",
         "symlink", "chapter-file", "lexicon"],
)  # fmt: skip
def test_no_destination_replaces_an_input(
    fake_voice: str, tmp_path: Path, monkeypatch, files: dict[str, str], args: list[str],
    message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        kind, _, target = content.partition(":")
        if kind == "link":
            os.link(tmp_path / target, tmp_path / name)
        elif kind == "symlink":
            (tmp_path / name).symlink_to(target)
        else:
            (tmp_path / name).write_text(content)
    before = {name: (tmp_path / name).read_bytes() for name in files}
    result = invoke(["read", *args, "-v", fake_voice])
    assert result.exit_code == 2
    assert result.stderr == f"narrator: error: {message}\n"
    assert {name: (tmp_path / name).read_bytes() for name in files} == before
    assert listing(tmp_path) == sorted(files)
    assert FakeEngine.calls == []


def test_standard_input_redirected_from_the_output_is_refused(fake_voice: str, story: Path):
    (story.parent / "x.txt").write_text(STORY)
    with open(story.parent / "x.txt", "rb") as stdin:
        done = run(["read", "-", "-v", fake_voice, "-o", "x.txt", "-f", "wav"], story.parent,
                   stdin=stdin, capture_output=True)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "narrator: error: the output x.txt is the same file as the input /dev/stdin; choose "
        "another name for the output\n"
    )
    assert (story.parent / "x.txt").read_text() == STORY


def test_the_library_refuses_an_output_that_is_an_input(fake_voice: str, tmp_path: Path):
    source = tmp_path / "in.txt"
    source.write_text(STORY)
    with pytest.raises(OptionError, match="is the same file as the input"):
        narrate(STORY, source, voice=fake_voice, rendering=None, inputs=[source])
    assert source.read_text() == STORY


# 3. Devices, FIFOs, links, modes.


def test_a_character_device_is_written_into(fake_voice: str, tmp_path: Path):
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except PermissionError:
        pytest.skip("making a device needs root")
    result = invoke(["read", "-v", fake_voice, "-o", str(device), str(_story_file(tmp_path))])
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(device.stat().st_mode)
    assert os.major(device.stat().st_rdev) == 1 and os.minor(device.stat().st_rdev) == 3
    assert listing(tmp_path) == ["null", "story.txt"]


def _story_file(folder: Path) -> Path:
    path = folder / "story.txt"
    path.write_text(STORY)
    return path


def test_dev_null_stays_a_device(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", os.devnull])
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_fifo_is_written_into(fake_voice: str, story: Path, tmp_path: Path):
    fifo = story.parent / "pipe"
    os.mkfifo(fifo)
    received = bytearray()

    def reader() -> None:
        with open(fifo, "rb") as f:
            received.extend(f.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "pipe", "-f", "wav"])
    thread.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    (story.parent / "got.wav").write_bytes(bytes(received))
    got = decode(story.parent / "got.wav").duration
    assert abs(got - reference_seconds(fake_voice, tmp_path)) < 0.01


def test_a_link_is_followed_and_kept(fake_voice: str, tmp_path: Path):
    real = tmp_path / "real.wav"
    real.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to("real.wav")
    narrate(STORY, link, voice=fake_voice)
    assert link.is_symlink() and os.readlink(link) == "real.wav"
    assert abs(decode(real).duration - reference_seconds(fake_voice, tmp_path)) < 0.01
    assert listing(tmp_path) == ["link.wav", "real.wav", "reference"]


def test_a_dangling_link_is_refused(fake_voice: str, story: Path):
    (story.parent / "link.mp3").symlink_to("nowhere.mp3")
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "link.mp3"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"narrator: error: link.mp3: is a link to {story.parent / 'nowhere.mp3'}, which does "
        "not exist; narrator follows links only to existing files\n"
    )
    assert listing(story.parent) == ["link.mp3", "story.txt"]


def test_an_existing_file_keeps_its_mode(fake_voice: str, tmp_path: Path):
    path = tmp_path / "book.mp3"
    path.write_bytes(b"old")
    path.chmod(0o640)
    narrate(STORY, path, voice=fake_voice)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert decode_ffmpeg(path).duration > 3


def test_a_new_file_gets_the_umask_mode(fake_voice: str, tmp_path: Path):
    umask = os.umask(0o027)
    try:
        narrate(STORY, tmp_path / "book.wav", voice=fake_voice)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "book.wav").stat().st_mode) == 0o640


def test_a_read_only_file_is_refused(fake_voice: str, story: Path):
    path = story.parent / "book.mp3"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", "book.mp3"])
    assert result.exit_code == 1
    assert result.stderr == (
        "narrator: error: book.mp3: is read-only; narrator does not replace a read-only file "
        "(make it writable, for example with chmod u+w, or choose another name)\n"
    )
    assert path.read_bytes() == b"precious"
    assert FakeEngine.calls == []


# 4. Scratch files live in a private folder; no name beside the output is predictable.


def test_every_file_written_lies_in_a_private_folder(fake_voice: str, tmp_path: Path,
                                                     monkeypatch):  # fmt: skip
    import narrator.encode as encode

    seen: list[tuple[Path, int, bool]] = []
    real = encode.FfmpegSink.__init__

    def spy(self, path: Path, *args, **kwargs) -> None:
        folder = path.parent.lstat()
        seen.append((path, stat.S_IMODE(folder.st_mode), stat.S_ISDIR(folder.st_mode)))
        if kwargs.get("metadata") or (len(args) > 3 and args[3] is not None):
            metadata = kwargs.get("metadata") or args[3]
            seen.append((metadata, -1, metadata.parent == path.parent))
        real(self, path, *args, **kwargs)

    monkeypatch.setattr(encode.FfmpegSink, "__init__", spy)
    narrate(STORY, tmp_path / "book.m4b", voice=fake_voice)  # an excerpt, then chapters
    names = [path.name for path, _, _ in seen]
    assert any(name.endswith(".excerpt") for name in names)
    assert any(name.endswith(".chapters") for name in names)
    for path, mode, private in seen:
        assert path.parent.parent == tmp_path and path.parent.name.startswith(scratch_prefix())
        assert private and mode in (0o700, -1)
    assert listing(tmp_path) == ["book.m4b"]


def test_scratch_folders_are_made_exclusively(tmp_path: Path):
    with Destinations() as outputs:
        first = outputs.add(tmp_path / "a.wav")
        second = outputs.add(tmp_path / "b.srt", "subtitles")
        assert first.parent == second.parent and first.name != second.name
        assert listing(tmp_path) == []  # until the audio is written
        outputs.ready()
        assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700
        assert not first.exists()
    assert listing(tmp_path) == []


# 12. What a killed run left is cleaned by the next run, once its process is gone.


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _leftovers(folder: Path, pid: int) -> list[Path]:
    prefix = scratch_prefix().rsplit("-", 2)[0] + f"-{pid}-"
    folder_left = folder / f"{prefix}abc123.part"
    folder_left.mkdir()
    (folder_left / "0.mp3").write_bytes(b"half")
    file_left = folder / f"{prefix}joe-0123.part"
    file_left.write_bytes(b"half a graph")
    return [folder_left, file_left]


def test_leftovers_of_dead_runs_are_removed(fake_voice: str, tmp_path: Path):
    dead = _leftovers(tmp_path, _dead_pid())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            kept = _leftovers(tmp_path, alive.pid)
            foreign = tmp_path / ".book.mp3.x1y2z3.part"  # not narrator's scratch name
            foreign.write_bytes(b"not ours")
            narrate(STORY, tmp_path / "book.mp3", voice=fake_voice)
        finally:
            alive.kill()
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in kept) and foreign.exists()


def test_a_run_killed_while_synthesizing_leaves_nothing(fake_voice: str, tmp_path: Path):
    code = (
        "import os, signal, sys\n"
        "from narrator.engines import register_engine\n"
        "from tests.fake_engine import FakeEngine\n"
        "register_engine('fake', FakeEngine)\n"
        "from narrator import narrate\n"
        "def die(event): os.kill(os.getpid(), signal.SIGKILL)\n"
        f"narrate({STORY!r}, sys.argv[1], voice='fake', progress=die)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "book.mp3")], env=env,
                          timeout=120)  # fmt: skip
    assert done.returncode == -9
    assert listing(tmp_path) == []


def test_a_run_killed_while_writing_is_cleaned_after(fake_voice: str, tmp_path: Path):
    code = (
        "import os, signal, sys\n"
        "from narrator.engines import register_engine\n"
        "from tests.fake_engine import FakeEngine\n"
        "register_engine('fake', FakeEngine)\n"
        "import narrator.master\n"
        "real = narrator.master.open_sink\n"
        "def dying(path, *args, **kwargs):\n"
        "    sink = real(path, *args, **kwargs)\n"
        "    sink.write(__import__('numpy').zeros(16000))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "narrator.master.open_sink = dying\n"
        "from narrator import narrate\n"
        f"narrate({STORY!r}, sys.argv[1], voice='fake')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "book.flac")], env=env,
                          timeout=120)  # fmt: skip
    assert done.returncode == -9
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".narrator-") and left.name.endswith(".part")
    assert list(left.iterdir())  # the half-written audio
    narrate(STORY, tmp_path / "other.wav", voice=fake_voice)
    assert listing(tmp_path) == ["other.wav"]


def test_remove_stale_touches_only_dead_owners(tmp_path: Path):
    dead = _leftovers(tmp_path, _dead_pid())
    mine = _leftovers(tmp_path, os.getpid())
    assert remove_stale(tmp_path) == 2
    assert not any(p.exists() for p in dead) and all(p.exists() for p in mine)


@pytest.mark.slow
def test_half_saved_model_graphs_of_dead_runs_are_removed(tmp_path: Path, monkeypatch):
    from narrator.engines import load_engine
    from narrator.voices import load_voice

    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path))
    models = tmp_path / "models"
    models.mkdir()
    dead = _leftovers(models, _dead_pid())
    mine = _leftovers(models, os.getpid())
    load_engine(load_voice("joe"), device="cpu").close()
    assert not any(p.exists() for p in dead) and all(p.exists() for p in mine)
    assert len(list(models.glob("*.onnx"))) == 1


# 13-15. One-line errors: full disks, long names, closed streams; exit codes.


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 KB file system (tmpfs; needs root)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(folder)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield folder
    finally:
        # Lazily: the encoder that found the disk full may still be exiting.
        done = subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("suffix", ["mp3", "wav", "flac", "ogg"])
def test_a_full_disk_is_one_line(fake_voice: str, story: Path, small_disk: Path, suffix: str):
    keep = small_disk / f"keep.{suffix}"
    keep.write_bytes(b"precious")
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", f"small/keep.{suffix}"])
    assert result.exit_code == 1
    if suffix == "ogg":  # ffmpeg's own words
        assert result.stderr == (
            "narrator: error: the encoder failed: Error writing trailer: No space left on device\n"
        )
    else:
        assert result.stderr == (
            f"narrator: error: small/keep.{suffix}: cannot write it: No space left on device\n"
        )
    assert keep.read_bytes() == b"precious"
    assert listing(small_disk) == [f"keep.{suffix}"]


def test_a_name_over_255_bytes_is_one_line(fake_voice: str, story: Path):
    name = "é" * 130 + ".mp3"  # 264 bytes
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", name])
    assert result.exit_code == 1
    assert result.stderr == (
        f"narrator: error: {name}: the file name is 264 bytes long; the file system takes at "
        "most 255\n"
    )
    assert listing(story.parent) == ["story.txt"]


@pytest.mark.parametrize("length", [241, 255])
def test_names_up_to_255_bytes_work(fake_voice: str, story: Path, length: int):
    name = "n" * (length - 4) + ".wav"
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", name, "--subtitles",
                     name[:-4] + ".srt"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert decode(story.parent / name).duration > 3
    assert (story.parent / (name[:-4] + ".srt")).read_text().startswith("1\n")


def test_chapter_files_of_a_long_name_fit(fake_voice: str, story: Path):
    name = "n" * 246 + ".wav"
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", name, "--split-chapters"])
    assert result.exit_code == 0, result.stderr
    chapters = [n for n in listing(story.parent) if n not in (name, "story.txt")]
    assert chapters == ["n" * 236 + "-01-Chapter-One.wav", "n" * 236 + "-02-Chapter-Two.wav"]
    assert all(len(n.encode()) == 255 for n in chapters)
    assert all(decode(story.parent / n).duration > 1 for n in chapters)


def test_standard_output_into_a_full_device(fake_voice: str, story: Path):
    with open("/dev/full", "wb") as full:
        done = run(["read", "story.txt", "-v", fake_voice, "-o", "-"], story.parent,
                   stdout=full, stderr=subprocess.PIPE)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "narrator: error: cannot write the audio to standard output: No space left on device\n"
    )


def test_a_closed_standard_output(fake_voice: str, story: Path):
    def close_stdout() -> None:
        os.close(1)

    done = run(["read", "story.txt", "-v", fake_voice, "-o", "-"], story.parent,
               stderr=subprocess.PIPE, preexec_fn=close_stdout)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.decode() == "narrator: error: standard output is closed; give -o FILE\n"
    assert FakeEngine.calls == []


def _with_closed_pipe(args: list[str], cwd: Path, stream: str) -> int:
    """Run narrator with *stream* ("stdout" or "stderr") a pipe nobody reads."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        other = subprocess.DEVNULL
        kwargs = {"stdout": write_end, "stderr": other} if stream == "stdout" else \
                 {"stdout": other, "stderr": write_end}  # fmt: skip
        return run(args, cwd, **kwargs).returncode
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("extra", "stream"), [([], "stderr"), (["--json"], "stdout")], ids=["messages", "json"]
)
def test_a_closed_pipe_after_the_work_is_done_exits_0(fake_voice: str, story: Path,
                                                      tmp_path: Path, extra, stream):  # fmt: skip
    code = _with_closed_pipe(["read", "story.txt", "-v", fake_voice, "-o", "out.wav", *extra],
                             story.parent, stream)  # fmt: skip
    assert code == 0
    assert abs(decode(story.parent / "out.wav").duration - reference_seconds(fake_voice, tmp_path))\
        < 0.01  # fmt: skip


def test_audio_cut_short_on_standard_output_exits_141(fake_voice: str, story: Path):
    code = _with_closed_pipe(["read", "story.txt", "-v", fake_voice, "-o", "-", "-f", "wav"],
                             story.parent, "stdout")  # fmt: skip
    assert code == 141


def test_one_stream_of_audio_goes_to_a_pipe(fake_voice: str, story: Path, tmp_path: Path):
    done = run(["read", "story.txt", "-v", fake_voice, "-o", "-", "-f", "wav"], story.parent,
               capture_output=True)  # fmt: skip
    assert done.returncode == 0
    (tmp_path / "got.wav").write_bytes(done.stdout)
    assert abs(decode(tmp_path / "got.wav").duration - reference_seconds(fake_voice, tmp_path))\
        < 0.01  # fmt: skip
    assert np.isfinite(decode(tmp_path / "got.wav").audio).all()


def test_a_dropped_destination_frees_no_name_for_reuse(tmp_path: Path):
    with Destinations() as outputs:
        first = outputs.add(tmp_path / "a.wav")
        dropped = outputs.add(tmp_path / "b.wav")
        outputs.ready()
        outputs.drop(dropped)
        third = outputs.add(tmp_path / "c.wav")
        assert len({first, dropped, third}) == 3
        for path in (first, third):
            path.write_bytes(path.name.encode())
        outputs.commit()
    assert listing(tmp_path) == ["a.wav", "c.wav"]
    assert (tmp_path / "a.wav").read_bytes() != (tmp_path / "c.wav").read_bytes()


def test_chapter_files_need_a_file_not_a_device(fake_voice: str, story: Path):
    result = invoke(["read", "story.txt", "-v", fake_voice, "-o", os.devnull, "--split-chapters"])
    assert result.exit_code == 2
    assert result.stderr == (
        "narrator: error: --split-chapters needs an output file, not a device or a FIFO\n"
    )
    assert not list(Path(os.devnull).parent.glob("null-*"))


def test_a_taken_scratch_name_is_never_written_through(tmp_path: Path):
    victim = tmp_path / "victim"
    victim.mkdir()
    with Destinations() as outputs:
        scratch = outputs.add(tmp_path / "a.wav")
        scratch.parent.symlink_to(victim)  # planted between the check and the writing
        with pytest.raises(OutputError, match="cannot make narrator's scratch folder"):
            outputs.ready()
    assert listing(victim) == []
    assert scratch.parent.is_symlink()  # not ours: left alone
