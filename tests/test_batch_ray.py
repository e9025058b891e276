"""``narrator batch --ray`` on a local Ray cluster started for this module (2 CPUs).

Every book must be the file ``narrator read`` makes of it, also when an actor's process
is killed in the middle of a batch (Ray starts it again and sends the batch again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from narrator.batch import Job, narrate_many
from narrator.cache import ClipCache
from narrator.cli import cli
from narrator.engines import register_engine, unregister_engine

from .audio import decode
from .conftest import FAKE_PRESET
from .fake_engine import KILL_MARKS_ENV, FakeEngine, KillOnceEngine
from .test_batch import TEXTS, write_books
from .test_longform import DETERMINISTIC_PRESET

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # a Ray cluster, and joe


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray cluster of 2 CPUs for the module; yields the folder of kill marks."""
    from narrator.cluster import connect

    marks = tmp_path_factory.mktemp("kill-marks")
    os.environ[KILL_MARKS_ENV] = str(marks)  # the cluster's processes inherit it
    connect(num_cpus=2)
    yield marks
    ray.shutdown()
    del os.environ[KILL_MARKS_ENV]


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def read_each(
    books: Path, names: list[str], out: Path, voice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``narrator read`` each book into *out* as WAV, with a clip cache of its own."""
    out.mkdir()
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(out / "cache"))
    for name in names:
        target = out / f"{Path(name).stem}.wav"
        result = invoke(["read", str(books / name), "-o", str(target), "-v", voice, "-q"])
        assert result.exit_code == 0, result.stderr


def assert_same(names: list[str], made: Path, expected: Path) -> None:
    for name in names:
        wav = f"{Path(name).stem}.wav"
        assert np.array_equal(decode(made / wav).audio, decode(expected / wav).audio), name


def test_ray_books_equal_read(
    cluster: Path, fake_voice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from narrator.cluster import RayPool

    books = write_books(tmp_path / "books")
    report = narrate_many(
        [Job(books / name, format="wav") for name in TEXTS], outdir=tmp_path / "out",
        voice=fake_voice, pool=RayPool(2), cache=ClipCache(tmp_path / "batch-cache"),
    )  # fmt: skip
    assert [book.status for book in report.books] == ["made"] * len(TEXTS), report.failed
    assert report.totals()["synthesized"] == report.totals()["sentences"]
    read_each(books, list(TEXTS), tmp_path / "read", fake_voice, monkeypatch)
    assert_same(list(TEXTS), tmp_path / "out", tmp_path / "read")


def test_joe_on_ray_equals_read(
    cluster: Path, tmp_path: Path, user_dirs: Path, monkeypatch: pytest.MonkeyPatch
):
    (user_dirs / "steady-joe.toml").write_text(DETERMINISTIC_PRESET)
    books = tmp_path / "books"
    books.mkdir()
    names = ["one.txt", "two.txt"]
    (books / "one.txt").write_text("# One\n\nThe rain fell softly. Nobody came to the door.")
    (books / "two.txt").write_text("Two short lines of text. And this is the second one.")
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(tmp_path / "batch-cache"))
    result = invoke(["batch", "--ray=", str(books), "-o", str(tmp_path / "out"), "-f", "wav",
                     "-v", "steady-joe", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    total = json.loads(result.stdout.splitlines()[-1])
    assert total["made"] == 2 and total["synthesized"] == total["sentences"] == 5
    read_each(books, names, tmp_path / "read", "steady-joe", monkeypatch)
    assert_same(names, tmp_path / "out", tmp_path / "read")


def test_an_actor_killed_mid_batch_costs_nothing_but_time(
    cluster: Path, tmp_path: Path, user_dirs: Path, monkeypatch: pytest.MonkeyPatch
):
    from narrator.cluster import RayPool

    register_engine("kill-once", KillOnceEngine)
    register_engine("fake", FakeEngine)
    preset = FAKE_PRESET.replace('"fake"', '"kill-once"').replace('"tone"', '"killed-1"')
    (user_dirs / "kill-once.toml").write_text(preset)
    try:
        books = write_books(tmp_path / "books")
        report = narrate_many(
            [Job(books / name, format="wav") for name in TEXTS], outdir=tmp_path / "out",
            voice="kill-once", pool=RayPool(2), cache=ClipCache(tmp_path / "batch-cache"),
        )  # fmt: skip
        assert (cluster / "killed-1").exists()  # an actor's process was killed at its 3rd clip
        assert [book.status for book in report.books] == ["made"] * len(TEXTS), report.failed
        # The mark is there now, so `read` with the same voice is killed nowhere.
        read_each(books, list(TEXTS), tmp_path / "read", "kill-once", monkeypatch)
        assert_same(list(TEXTS), tmp_path / "out", tmp_path / "read")
    finally:
        unregister_engine("kill-once")
