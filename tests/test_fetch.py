"""The one download helper that Piper, hibari and Kokoro share (narrator/engines/fetch.py),
against a server on 127.0.0.1: a file cut short, a wrong SHA-256, a refused connection and
what a killed download left behind."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from narrator.cli import cli
from narrator.destinations import SCRATCH_SUFFIX, scratch_prefix
from narrator.engines.fetch import fetch
from narrator.errors import ModelNotFoundError

BODY = bytes(range(256)) * 64  # 16 KiB


class Files(http.server.BaseHTTPRequestHandler):
    """Serves :attr:`files`; :attr:`claimed` overrides the Content-Length a file announces."""

    files: dict[str, bytes] = {}
    claimed: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        if path not in self.files:
            self.send_error(404)
            return
        body = self.files[path]
        self.send_response(200)
        self.send_header("Content-Length", str(self.claimed.get(path, len(body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Files.files, Files.claimed = {}, {}
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_whole_file_lands_under_its_name(server: str, tmp_path: Path) -> None:
    Files.files["/a.bin"] = BODY
    target = tmp_path / "models" / "a.bin"
    digest = hashlib.sha256(BODY).hexdigest()
    assert fetch(f"{server}/a.bin", target, what="x", hint="h", sha256=digest) == target
    assert target.read_bytes() == BODY
    assert os.listdir(target.parent) == ["a.bin"]


@pytest.mark.parametrize(
    ("claimed", "size", "message"),
    [
        (None, len(BODY) + 1, f"it is {len(BODY):,} bytes, not {len(BODY) + 1:,} (cut short)"),
        # No size known: the Content-Length the server announced decides (Piper's files).
        (len(BODY) + 100, None, f"it is {len(BODY):,} bytes, not {len(BODY) + 100:,} (cut short)"),
        (None, 100, "it is longer than 100 bytes, not 100"),
    ],
    ids=["shorter-than-known", "connection-drops", "longer"],
)
def test_a_file_of_the_wrong_length_is_one_error_and_not_kept(
    server: str, tmp_path: Path, claimed: int | None, size: int | None, message: str
) -> None:
    Files.files["/a.bin"] = BODY
    if claimed:
        Files.claimed["/a.bin"] = claimed
    with pytest.raises(ModelNotFoundError) as error:
        fetch(f"{server}/a.bin", tmp_path / "a.bin", what="voice a", hint="try again", size=size)
    assert str(error.value) == f"cannot download voice a from {server}/a.bin: {message}; try again"
    assert os.listdir(tmp_path) == []


def test_a_wrong_hash_is_one_error_and_not_kept(server: str, tmp_path: Path) -> None:
    Files.files["/a.bin"] = BODY
    with pytest.raises(ModelNotFoundError, match=f"it has SHA-256 {'[0-9a-f]' * 64}, not 0{{64}}, "
                       "the recorded one; h$"):  # fmt: skip
        fetch(f"{server}/a.bin", tmp_path / "a.bin", what="x", hint="h", sha256="0" * 64)
    assert os.listdir(tmp_path) == []


def test_a_refused_connection_or_a_404_is_one_line(tmp_path: Path, server: str) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^cannot download x from .*: .*refused.*; h$"):
        fetch("http://127.0.0.1:9/a.bin", tmp_path / "a.bin", what="x", hint="h")
    with pytest.raises(ModelNotFoundError, match=r"HTTP Error 404: Not Found; h$"):
        fetch(f"{server}/gone.bin", tmp_path / "a.bin", what="x", hint="h")
    assert os.listdir(tmp_path) == []


def test_what_a_killed_download_left_is_removed(server: str, tmp_path: Path) -> None:
    host = scratch_prefix().split("-")[1]
    stale = tmp_path / f".narrator-{host}-999999999-a.bin{SCRATCH_SUFFIX}"  # no such process
    stale.write_bytes(b"half")
    Files.files["/a.bin"] = BODY
    fetch(f"{server}/a.bin", tmp_path / "a.bin", what="x", hint="h")
    assert os.listdir(tmp_path) == ["a.bin"]


def test_a_piper_voice_cut_short_is_one_error_and_leaves_nothing(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_dirs: Path
) -> None:
    """piper's own download_voice kept whatever arrived; narrator's checks the length the
    server announced, and keeps neither file of a voice that did not download whole."""
    import piper.download_voices

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    folder = "/de/de_DE/thorsten/high/de_DE-thorsten-high"
    Files.files[f"{folder}.onnx.json"] = json.dumps({"audio": {"sample_rate": 22050}}).encode()
    Files.files[f"{folder}.onnx"] = BODY
    Files.claimed[f"{folder}.onnx"] = len(BODY) * 2  # the connection drops half way
    url = (server + "/{lang_family}/{lang_code}/{voice_name}/{voice_quality}/"
           "{lang_code}-{voice_name}-{voice_quality}{extension}")  # fmt: skip
    monkeypatch.setattr(piper.download_voices, "URL_FORMAT", url)
    result = CliRunner().invoke(cli, ["voices", "download", "thorsten-de"], prog_name="narrator")
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        f"narrator: error: cannot download Piper voice de_DE-thorsten-high.onnx from "
        f"{server}{folder}.onnx: it is {len(BODY):,} bytes, not {2 * len(BODY):,} (cut short); "
        "connect to a network and try again"
    )
    data = tmp_path / "data"
    assert [p for p in data.rglob("*") if p.is_file()] == []
