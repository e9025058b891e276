"""``narrator batch`` and :func:`narrator.narrate_many` on one machine, with the fake engine.

Every book a batch makes must be the file ``narrator read`` makes of it: the tests
decode both and compare the samples.  The Ray side is in test_batch_ray.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import narrator
from narrator.batch import Job, is_complete
from narrator.cache import ClipCache
from narrator.cli import cli

from .audio import decode

TEXTS = {
    "alpha.txt": "# Alpha\n\nThe first book is short. It has two sentences.",
    "bravo.md": "# Bravo\n\nA second book, in Markdown.\n\nIt has *two* paragraphs.",
    "charlie.txt": "One line only, and no heading at all.",
    "delta.txt": "# Delta\n\nFour.\n\n* * *\n\nA scene break came before this sentence.",
    "echo.txt": "Echo speaks last. Then it stops. Then nothing more is said.",
}
"""Five short books."""

WORKTREE = Path(__file__).resolve().parent.parent


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def write_books(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in TEXTS.items():
        (folder / name).write_text(text)
    return folder


def json_lines(result: Result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def samples(path: Path) -> np.ndarray:
    return decode(path).audio


def read_each(books: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    """``narrator read`` every book into *out*, with a clip cache of its own."""
    out.mkdir()
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(out / "cache"))
    for name in TEXTS:
        target = out / f"{Path(name).stem}.wav"
        result = invoke(["read", str(books / name), "-o", str(target), "-q", *args])
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("jobs", [1, 2])
def test_batch_makes_what_read_makes(
    fake_voice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
):
    books = write_books(tmp_path / "books")
    read_each(books, tmp_path / "read", monkeypatch, "-v", fake_voice)
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path / "batch-cache"))
    out = tmp_path / "out"
    result = invoke(
        [
            "batch",
            str(books),
            "-o",
            str(out),
            "-f",
            "wav",
            "-v",
            fake_voice,
            "-j",
            str(jobs),
            "--json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result)
    assert [line["status"] for line in lines[:-1]] == ["made"] * len(TEXTS)
    assert lines[-1]["total"] is True and lines[-1]["made"] == len(TEXTS)
    assert lines[-1]["synthesized"] == lines[-1]["sentences"] > 0
    for name in TEXTS:
        made = out / f"{Path(name).stem}.wav"
        expected = samples(tmp_path / "read" / made.name)
        assert np.array_equal(samples(made), expected), name
        assert f"narrator: wrote {made}" in result.stderr


def test_a_book_whose_output_exists_is_skipped_and_force_remakes_it(
    fake_voice: str, tmp_path: Path
):
    books = write_books(tmp_path / "books")
    out = tmp_path / "out"
    args = [
        "batch",
        str(books / "alpha.txt"),
        str(books / "echo.txt"),
        "-o",
        str(out),
        "-v",
        fake_voice,
        "--json",
    ]
    assert invoke(args).exit_code == 0
    made = out / "alpha.mp3"
    assert is_complete(made)
    before = made.stat().st_mtime_ns
    again = invoke(args)
    assert again.exit_code == 0
    assert [line.get("status") for line in json_lines(again)[:-1]] == ["skipped", "skipped"]
    assert f"skipped {books / 'alpha.txt'}: {made} exists (--force remakes it)" in again.stderr
    assert made.stat().st_mtime_ns == before
    forced = invoke([*args, "--force"])
    assert forced.exit_code == 0
    lines = json_lines(forced)
    assert [line["status"] for line in lines[:-1]] == ["made", "made"]
    assert lines[-1]["synthesized"] == 0  # every clip came from the cache
    assert made.stat().st_mtime_ns != before


def test_an_incomplete_output_is_not_skipped(fake_voice: str, tmp_path: Path):
    books = write_books(tmp_path / "books")
    out = tmp_path / "out"
    out.mkdir()
    (out / "charlie.wav").write_bytes(b"RIFF")  # not a narration narrator finished
    result = invoke(
        [
            "batch",
            str(books / "charlie.txt"),
            "-o",
            str(out),
            "-f",
            "wav",
            "-v",
            fake_voice,
            "--json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert json_lines(result)[0]["status"] == "made"
    assert decode(out / "charlie.wav").duration > 1


def test_a_bad_manifest_row_fails_with_its_reason_and_the_others_succeed(
    fake_voice: str, tmp_path: Path
):
    books = write_books(tmp_path / "books")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "input,output,voice,title,speed,sentence_pause\n"
        f"books/alpha.txt,out/first.wav,{fake_voice},The First,,\n"
        f"books/missing.txt,out/missing.wav,{fake_voice},,,\n"
        "books/bravo.md,out/bravo.wav,nobody,,,\n"
        f"books/charlie.txt,out/charlie.wav,{fake_voice},,fast,\n"
        f"books/echo.txt,out/echo.wav,{fake_voice},,1.25,0.5\n"
    )
    result = invoke(["batch", "--manifest", str(manifest), "--json", "-o", str(tmp_path)])
    assert result.exit_code == 1
    lines = json_lines(result)
    status = {Path(line["input"]).name: line for line in lines[:-1]}
    assert status["alpha.txt"]["status"] == status["echo.txt"]["status"] == "made"
    assert status["missing.txt"]["status"] == "failed"
    assert "no such file" in status["missing.txt"]["reason"]
    assert "nobody" in status["bravo.md"]["reason"]
    assert "line 5: speed must be a number, not 'fast'" in status["charlie.txt"]["reason"]
    assert lines[-1] == {**lines[-1], "made": 2, "failed": 3, "books": 5}
    for name in ("missing.txt", "bravo.md", "charlie.txt"):
        assert f"narrator: failed {books / name}" in result.stderr or name in result.stderr
    assert not (tmp_path / "out" / "missing.wav").exists()
    assert not (tmp_path / "out" / "bravo.wav").exists()
    # The manifest's options reach the book: echo at 1.25 times the speed, with longer pauses.
    plain = invoke(
        [
            "read",
            str(books / "echo.txt"),
            "-o",
            str(tmp_path / "echo.wav"),
            "-v",
            fake_voice,
            "--speed",
            "1.25",
            "--sentence-pause",
            "0.5",
            "-q",
        ]
    )
    assert plain.exit_code == 0
    made = samples(tmp_path / "out" / "echo.wav")
    assert np.array_equal(made, samples(tmp_path / "echo.wav"))
    assert status["alpha.txt"]["output"] == str(tmp_path / "out" / "first.wav")


def test_a_jsonl_manifest_and_its_bad_lines(fake_voice: str, tmp_path: Path):
    write_books(tmp_path)
    manifest = tmp_path / "jobs.jsonl"
    rows = [
        {"input": "alpha.txt", "output": "alpha.flac", "voice": fake_voice, "author": "A. N."},
        {"input": "bravo.md", "voice": fake_voice, "colour": "blue"},
        "not an object",
    ]
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n{broken\n")
    result = invoke(["batch", "--manifest", str(manifest), "--json", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = json_lines(result)
    assert [line["status"] for line in lines[:-1]] == ["made", "failed", "failed", "failed"]
    assert "unknown key 'colour'" in lines[1]["reason"]
    assert "line 3: not a JSON object" in lines[2]["reason"]
    assert "line 4: not JSON" in lines[3]["reason"]
    assert decode(tmp_path / "alpha.flac").duration > 1


def test_an_unknown_manifest_column_is_one_error_line(fake_voice: str, tmp_path: Path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("input,colour\nalpha.txt,blue\n")
    result = invoke(["batch", "--manifest", str(manifest)])
    assert result.exit_code == 2
    assert result.stderr.startswith("narrator: error: ")
    assert "unknown column(s) colour" in result.stderr
    assert result.stderr.count("\n") == 1


def test_no_inputs_is_a_usage_error():
    result = invoke(["batch"])
    assert result.exit_code == 2
    assert "give input files or folders, or --manifest FILE" in result.stderr


def test_name_pattern_and_two_inputs_with_one_output(fake_voice: str, tmp_path: Path):
    books = write_books(tmp_path / "books")
    (books / "alpha.md").write_text("Another alpha.")
    result = invoke(
        [
            "batch",
            str(books / "alpha.txt"),
            str(books / "alpha.md"),
            "-o",
            str(tmp_path / "o"),
            "--name",
            "{stem}-narrated.{format}",
            "-v",
            fake_voice,
            "--json",
        ]
    )
    assert result.exit_code == 1
    first, second, _ = json_lines(result)
    assert first["status"] == "made"
    assert first["output"] == str(tmp_path / "o" / "alpha-narrated.mp3")
    assert second["status"] == "failed"
    assert "is also the output of" in second["reason"]


def test_narrate_many_is_the_library_under_the_command(fake_voice: str, tmp_path: Path):
    books = write_books(tmp_path / "books")
    events = []
    report = narrator.narrate_many(
        [Job(books / "alpha.txt", title="Given"), books / "echo.txt"],
        outdir=tmp_path,
        voice=fake_voice,
        progress=events.append,
    )
    assert report.exit_code == 0
    assert [book.status for book in report.books] == ["made", "made"]
    assert report.books[0].output == tmp_path / "alpha.mp3"
    last = events[-1]
    assert (last.books_done, last.books) == (2, 2)
    assert last.sentences_done == last.sentences == report.totals()["sentences"]
    assert last.audio_seconds > 1 and last.throughput > 0 and last.eta == 0
    assert [e.book.input for e in events if e.book is not None] == [
        books / "alpha.txt",
        books / "echo.txt",
    ]


def _subprocess_batch(args: list[str], cache: Path, engine: str = "SlowEngine") -> list[str]:
    """A ``narrator batch`` command in a process of its own, with *engine* of
    tests/fake_engine.py as the "fake" engine."""
    code = (
        f"from tests.fake_engine import {engine} as E; from narrator.engines import "
        "register_engine; register_engine('fake', E); from narrator.cli import main; main()"
    )
    return [sys.executable, "-c", code, "batch", *args]


def _environment(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(WORKTREE), "NARRATOR_CACHE_DIR": str(cache)}


def test_two_batches_sharing_one_cache_at_once(fake_voice: str, tmp_path: Path):
    books = write_books(tmp_path / "books")
    cache = tmp_path / "shared-cache"
    runs = [
        subprocess.Popen(
            _subprocess_batch(
                [
                    str(books),
                    "-o",
                    str(tmp_path / f"out{n}"),
                    "-v",
                    fake_voice,
                    "-f",
                    "wav",
                    "--json",
                    "-q",
                ],
                cache,
            ),
            cwd=WORKTREE,
            env=_environment(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert json.loads(out.splitlines()[-1])["made"] == len(TEXTS)
    for name in TEXTS:
        wav = f"{Path(name).stem}.wav"
        assert np.array_equal(samples(tmp_path / "out1" / wav), samples(tmp_path / "out2" / wav))
    clips = ClipCache(cache)
    entries = list(clips.clips.rglob("*"))
    assert not [p for p in entries if p.is_file() and p.suffix != ".clip"]  # no scraps
    for entry in (p for p in entries if p.suffix == ".clip"):
        assert clips.get(entry.stem) is not None, entry
    assert clips.stats.corrupt == 0


def test_a_killed_batch_resumes_from_the_cache(fake_voice: str, tmp_path: Path):
    books = write_books(tmp_path / "books")
    cache = tmp_path / "cache"
    args = [str(books), "-o", str(tmp_path / "out"), "-v", fake_voice, "-f", "wav", "--json"]
    run = subprocess.Popen(
        _subprocess_batch(args, cache),
        cwd=WORKTREE,
        env=_environment(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(list(cache.glob("clips/*/*.clip"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    cached = len(list(cache.glob("clips/*/*.clip")))
    assert cached >= 4
    again = subprocess.run(
        _subprocess_batch(args, cache),
        cwd=WORKTREE,
        env=_environment(cache),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    total = json.loads(again.stdout.splitlines()[-1])
    assert total["synthesized"] <= total["sentences"] - cached
    fresh = tmp_path / "fresh"
    reference = subprocess.run(
        _subprocess_batch(
            [str(books), "-o", str(fresh), "-v", fake_voice, "-f", "wav"], fresh / "cache"
        ),
        cwd=WORKTREE,
        env=_environment(fresh / "cache"),
        capture_output=True,
        text=True,
    )
    assert reference.returncode == 0, reference.stderr
    for name in TEXTS:
        wav = f"{Path(name).stem}.wav"
        assert np.array_equal(samples(tmp_path / "out" / wav), samples(fresh / wav)), name


def test_batch_without_ray_imports_no_ray(fake_voice: str, tmp_path: Path):
    write_books(tmp_path)
    code = (
        "import sys; from tests.fake_engine import FakeEngine; from narrator.engines import "
        "register_engine; register_engine('fake', FakeEngine); import narrator; "
        f"r = narrator.narrate_many([{str(tmp_path / 'alpha.txt')!r}], outdir={str(tmp_path)!r},"
        " voice='fake'); assert r.exit_code == 0; "
        "from narrator import cli, cluster; print(sorted(m for m in sys.modules if m == 'ray' "
        "or m.startswith('ray.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=WORKTREE,
        env=_environment(tmp_path / "cache"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "alpha.mp3").exists()


def test_ray_without_ray_installed_is_one_error_line(
    fake_voice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    write_books(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = invoke(["batch", "--ray=auto", str(tmp_path / "alpha.txt"), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == (
        "narrator: error: --ray needs Ray, which is not installed; "
        'install it with: pip install "narrator-tts[ray]"\n'
    )
    assert not (tmp_path / "alpha.mp3").exists()


def test_batch_reads_books_as_read_does(fake_voice: str, tmp_path: Path, monkeypatch):
    """An EPUB (chapters, cover, tags) and an HTML page: the batch's files are read's."""
    import mutagen

    from narrator.tags import read_chapters

    from .audio import decode_ffmpeg
    from .epubs import ebooklib_epub
    from .test_books_html import NEWS_PAGE

    books = tmp_path / "books"
    books.mkdir()
    ebooklib_epub(books / "keeper.epub")
    (books / "river.html").write_text(NEWS_PAGE)
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path / "read-cache"))
    (tmp_path / "read").mkdir()
    for name in ("keeper.epub", "river.html"):
        target = tmp_path / "read" / f"{Path(name).stem}.m4b"
        result = invoke(["read", str(books / name), "-o", str(target), "-q", "-v", fake_voice])
        assert result.exit_code == 0, result.output
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path / "batch-cache"))
    result = invoke(["batch", str(books), "-o", str(tmp_path / "out"), "-v", fake_voice,
                     "--format", "m4b", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for stem in ("keeper", "river"):
        made, read = tmp_path / "out" / f"{stem}.m4b", tmp_path / "read" / f"{stem}.m4b"
        assert read_chapters(made) == read_chapters(read)
        np.testing.assert_array_equal(decode_ffmpeg(made).audio, decode_ffmpeg(read).audio)
        tags, expected = mutagen.File(made).tags, mutagen.File(read).tags
        for key in ("\xa9nam", "\xa9ART", "covr"):
            assert tags.get(key) == expected.get(key), key
    assert len(read_chapters(tmp_path / "out" / "keeper.m4b")) >= 4
    assert mutagen.File(tmp_path / "out" / "keeper.m4b").tags.get("covr")
