"""A library call changes no process-wide state (a server makes many at once): the
command sets what belongs to the process."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from narrator.cli import GIL_SWITCH_INTERVAL, cli
from narrator.engines import coqui
from narrator.errors import EngineError
from narrator.voices import load_voice


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args, prog_name="narrator", catch_exceptions=False)


def test_the_command_sets_the_gil_switch_interval(fake_voice, tmp_path: Path, monkeypatch):
    set_to: list[float] = []
    monkeypatch.setattr(sys, "setswitchinterval", set_to.append)
    (tmp_path / "story.md").write_text("One. Two.")
    result = invoke(["read", str(tmp_path / "story.md"), "-o", str(tmp_path / "s.wav"),
                     "--voice", fake_voice])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert set_to == [GIL_SWITCH_INTERVAL]


def test_the_coqui_licence_travels_on_the_voice(fake_voice, tmp_path: Path, monkeypatch):
    monkeypatch.delenv(coqui.LICENSE_ENV, raising=False)
    monkeypatch.delenv(coqui.COQUI_LICENSE_ENV, raising=False)
    voice = load_voice(fake_voice)
    with pytest.raises(EngineError, match="--accept-coqui-license"):
        coqui._require_license(voice, "xtts", None)
    accepted = voice.with_options(accept_license=True)
    coqui._require_license(accepted, "xtts", None)
    assert accepted.sound_identity() == voice.sound_identity()  # the same cached clips
    (tmp_path / "story.md").write_text("One. Two.")
    result = invoke(["read", str(tmp_path / "story.md"), "-o", str(tmp_path / "s.wav"),
                     "--voice", fake_voice, "--accept-coqui-license"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert coqui.LICENSE_ENV not in os.environ


def test_the_socket_timeout_is_left_alone(monkeypatch):
    # Piper's downloads time out per connection (narrator.engines.fetch.fetch).
    import narrator.engines.piper as piper_engine

    assert not hasattr(piper_engine, "socket")
    assert socket.getdefaulttimeout() is None
