"""Reading the input: once, block by block, up to a size cap, with one clear error.

Pipes, FIFOs, ``/dev/stdin`` and process substitutions (``<(...)``) can be read
only once, so they are run for real: the fake voice in a subprocess of its own
(:func:`run_narrator`), with real file descriptors.  An endless input runs under
a memory limit, so that a regression fails the test instead of filling the machine.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from narrator import narrate
from narrator.cli import cli
from narrator.errors import InputError, OptionError
from narrator.text import MAX_INPUT_BYTES, STDIN, parse_size, read_text, split_text
from narrator.text.segments import nothing_to_read

from .conftest import FAKE_PRESET
from .fake_engine import SAMPLE_RATE, expected_speech_seconds

RUN_FAKE = (
    "import sys; from narrator.engines import register_engine; "
    "from tests.fake_engine import FakeEngine; register_engine('fake', FakeEngine); "
    "from narrator.cli import main; sys.argv[0] = 'narrator'; main()"
)
"""The command line with the fake engine registered, for a subprocess."""

MEMORY_LIMIT = 3 * 2**30
"""Address space a subprocess reading an endless input may use: far more than the
input cap needs, far less than reading it whole would take."""

TOO_LARGE = (
    "standard input: is larger than {size}; if it really is text to narrate, raise the "
    "limit with --max-input-size (or NARRATOR_MAX_INPUT)"
)
NOTHING = nothing_to_read("?!")


@pytest.fixture
def fake_preset(user_dirs: Path) -> str:
    """A preset "fake" for :func:`run_narrator` (the fake engine is registered there)."""
    (user_dirs / "fake.toml").write_text(FAKE_PRESET)
    return "fake"


def run_narrator(
    args: list[str],
    cwd: Path,
    *,
    preexec: Callable[[], None] | None = None,
    timeout: float = 120,
    **kwargs,
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", RUN_FAKE, *args], cwd=cwd, env=env, capture_output=True,
        timeout=timeout, preexec_fn=preexec, **kwargs,
    )  # fmt: skip


def one_error(done: subprocess.CompletedProcess[bytes], message: str, code: int = 2) -> None:
    """The run failed with exactly one line, ``narrator: error: message``."""
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    assert (done.returncode, stderr) == (code, f"narrator: error: {message}\n")


def spoken_seconds(path: Path, text: str) -> float:
    """Seconds of fake-engine speech in *path* beyond what an empty narration holds."""
    return sf.info(path).duration - expected_speech_seconds(text)


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def close_stdin() -> None:
    os.close(0)


class Endless(io.RawIOBase):
    """``yes``: a stream that never ends; counts what was read from it."""

    def __init__(self, ceiling: int) -> None:
        self.served = 0
        self.ceiling = ceiling

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        assert self.served <= self.ceiling, "read far past the cap: the input is read whole"
        line = b"y\n" * (len(buffer) // 2)
        buffer[: len(line)] = line
        self.served += len(line)
        return len(line)


# --- the size cap (item 8) ------------------------------------------------------------


def test_an_endless_stream_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    endless = Endless(ceiling=2 * MAX_INPUT_BYTES)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(endless)))
    with pytest.raises(InputError) as info:
        read_text(STDIN)
    assert str(info.value) == TOO_LARGE.format(size="64 MiB")
    assert info.value.exit_code == 2
    assert MAX_INPUT_BYTES < endless.served <= MAX_INPUT_BYTES + 2**20


def test_the_cap_is_exact_and_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "ten.txt"
    path.write_bytes(b"Ten bytes.")
    assert read_text(path, max_bytes=10) == "Ten bytes."
    with pytest.raises(InputError, match=r"ten.txt: is larger than 9 bytes; .*--max-input-size"):
        read_text(path, max_bytes=9)


@pytest.mark.parametrize(
    ("text", "size"),
    [("64M", MAX_INPUT_BYTES), ("200MiB", 200 * 2**20), ("1.5g", 3 * 2**29), ("100000", 100_000),
     ("10 KB", 10_240), (7, 7)],
)  # fmt: skip
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "5X", "1e9"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(OptionError):
        parse_size(text)


@pytest.mark.parametrize("command", ["read", "split"])
def test_the_option_default_is_the_documented_cap(command: str) -> None:
    [option] = [p for p in cli.commands[command].params if p.name == "max_input"]
    assert parse_size(option.default) == MAX_INPUT_BYTES  # type: ignore[arg-type]


def test_dev_zero_is_refused_after_a_few_kilobytes(tmp_path: Path) -> None:
    done = run_narrator(["split", "/dev/zero"], tmp_path, preexec=limit_memory)
    one_error(done, "/dev/zero: looks like a binary file, not text; give a UTF-8 text file")


def test_yes_piped_into_read_hits_the_cap(tmp_path: Path, fake_preset: str) -> None:
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    try:
        done = run_narrator(["read", "-", "-v", fake_preset, "-o", "x.wav"], tmp_path,
                            preexec=limit_memory, stdin=yes.stdout)  # fmt: skip
    finally:
        yes.kill()
        yes.wait()
        assert yes.stdout is not None
        yes.stdout.close()
    one_error(done, TOO_LARGE.format(size="64 MiB"))
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("how", ["option", "environment"])
def test_read_and_split_take_the_cap(
    tmp_path: Path, fake_voice: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "story.txt").write_text("A story of forty bytes, more or less....")
    for size, code in (("39", 2), ("40", 0)):
        args = ["--max-input-size", size] if how == "option" else []
        monkeypatch.setenv("NARRATOR_MAX_INPUT", size)
        if how == "option":
            monkeypatch.delenv("NARRATOR_MAX_INPUT")
        read = CliRunner().invoke(cli, ["read", "story.txt", "-v", fake_voice, "-o", "x.wav",
                                        "-q", *args])  # fmt: skip
        split = CliRunner().invoke(cli, ["split", "story.txt", *args])
        assert (read.exit_code, split.exit_code) == (code, code), size
        if code:
            message = "narrator: error: story.txt: is larger than 39 bytes; if it really is "
            assert read.stderr.startswith(message) and split.stderr.startswith(message)
            assert read.stderr.count("\n") == 1 and not (tmp_path / "x.wav").exists()
    assert sf.info(tmp_path / "x.wav").duration > 1.5


def test_a_bad_cap_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "story.txt").write_text("Hello.")
    result = CliRunner().invoke(cli, ["split", str(tmp_path / "story.txt"),
                                      "--max-input-size", "lots"])  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for '--max-input-size'" in result.stderr
    assert "'lots' is not a size" in result.stderr


# --- read once (item 9) ---------------------------------------------------------------


def test_a_process_substitution_is_read_once(tmp_path: Path, fake_preset: str) -> None:
    """``narrator read <(printf 'Hello.\\n')``: the input is /dev/fd/N, a pipe."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"Hello there.\n")
    os.close(write_end)
    try:
        done = run_narrator(["read", f"/dev/fd/{read_end}", "-v", fake_preset, "-o", "x.wav",
                             "-q"], tmp_path, pass_fds=(read_end,))  # fmt: skip
    finally:
        os.close(read_end)
    assert (done.returncode, done.stderr) == (0, b"")
    assert sf.info(tmp_path / "x.wav").samplerate == SAMPLE_RATE
    assert spoken_seconds(tmp_path / "x.wav", "") > expected_speech_seconds("Hello there.")


def test_dev_stdin_is_read_once(tmp_path: Path, fake_preset: str) -> None:
    """``printf 'Hello there.\n' | narrator read /dev/stdin``."""
    done = run_narrator(["read", "/dev/stdin", "-v", fake_preset, "-o", "x.wav", "-q"],
                        tmp_path, input=b"Hello there.\n")  # fmt: skip
    assert (done.returncode, done.stderr) == (0, b"")
    assert spoken_seconds(tmp_path / "x.wav", "") > expected_speech_seconds("Hello there.")


def test_a_fifo_with_one_writer_is_read_once(tmp_path: Path, fake_preset: str) -> None:
    fifo = tmp_path / "story.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as writer:  # waits for narrator to open it
            writer.write(b"Hello there.\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        done = run_narrator(["read", str(fifo), "-v", fake_preset, "-o", "x.wav", "-q"],
                            tmp_path, timeout=60)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("narrator hung: it opened the FIFO a second time, with no writer left")
    finally:
        if writer.is_alive():  # narrator never opened it: let the thread go
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(5)
    assert (done.returncode, done.stderr) == (0, b"")
    assert spoken_seconds(tmp_path / "x.wav", "") > expected_speech_seconds("Hello there.")


def test_a_missing_input_fails_before_anything_is_read(tmp_path: Path, fake_voice: str) -> None:
    result = CliRunner().invoke(cli, ["read", str(tmp_path / "none.txt"), "-v", fake_voice,
                                      "-o", str(tmp_path / "x.wav")])  # fmt: skip
    assert (result.exit_code, result.stderr) == (2, f"narrator: error: {tmp_path}/none.txt: "
                                                    "no such file\n")  # fmt: skip


# --- closed standard input (item 13) --------------------------------------------------


@pytest.mark.parametrize("command", ["read", "split"])
def test_closed_standard_input_is_one_error(tmp_path: Path, fake_preset: str, command: str):
    args = ["read", "-", "-v", fake_preset, "-o", "x.wav"] if command == "read" else ["split", "-"]
    done = run_narrator(args, tmp_path, preexec=close_stdin)
    one_error(done, "standard input is closed; give a file, or pipe text in")
    assert not (tmp_path / "x.wav").exists()


# --- nothing to read (item 14) --------------------------------------------------------


@pytest.mark.parametrize("text", ["?!", "?! … 😀 🎉\n\n!!!\n\n* * *\n", "```\ncode\n```\n"])
def test_nothing_speakable_is_the_nothing_to_read_error(
    tmp_path: Path, fake_voice: str, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "marks.txt").write_text(text, "utf-8")
    read = CliRunner().invoke(cli, ["read", "marks.txt", "-v", fake_voice, "-o", "x.wav"])
    split = CliRunner().invoke(cli, ["split", "marks.txt"])
    for result in (read, split):
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr.endswith(f"narrator: error: {NOTHING}\n")
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the text is empty; there is nothing to narrate"), (" \n\t", "the text is empty; "
     "there is nothing to narrate"), ("?!", NOTHING), ("😀 — …", NOTHING)],
)  # fmt: skip
def test_the_library_refuses_nothing_to_read(fake_voice: str, text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        narrate(text, voice=fake_voice)
    assert str(info.value) == message
    with pytest.raises(InputError, match="there is nothing to narrate"):
        split_text(text)
