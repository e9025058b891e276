from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from narrator.engines import register_engine, unregister_engine
from narrator.errors import EngineError
from narrator.voices import Voice

from .fake_engine import FakeEngine

FAKE_PRESET = """\
name = "fake"
engine = "fake"
model = "tone"
language = "en"
description = "A test tone whose length follows the text"
"""


@pytest.fixture(autouse=True)
def restore_logging():
    """``read`` configures the root logger for the process; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of optimized ONNX graphs for the whole run (63 MB for joe)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, shared_models: Path
) -> Path:
    """Point the user's preset folder at an empty temporary folder, and the cache at an
    empty one (but for the optimized models, which every test shares)."""
    voices = tmp_path_factory.mktemp("user-voices")
    monkeypatch.setenv("NARRATOR_VOICES_DIR", str(voices))
    cache = tmp_path_factory.mktemp("cache")
    (cache / "models").symlink_to(shared_models, target_is_directory=True)
    monkeypatch.setenv("NARRATOR_CACHE_DIR", str(cache))
    return voices


_HAD_TORCH = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Whether torch was imported before this test's fixtures (module-scoped ones too)."""
    item.stash[_HAD_TORCH] = "torch" in sys.modules


@pytest.fixture(autouse=True)
def quick_tests_stay_quick(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, user_dirs: Path
):
    """A test not marked ``slow`` fails if it loads a real voice or imports torch, so that
    ``pytest -m "not slow"`` stays a quick loop.

    A voice counts as loaded when an ONNX Runtime session is made in this process, or when
    a process (``narrator read`` run by the test, too) puts an optimized graph in the
    cache's ``models`` folder, which is an empty one of its own here.  torch is caught
    where it was not imported before the test's fixtures (in the quick loop, no slow test
    imports it first).
    """
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    import onnxruntime

    loaded: list[str] = []
    session = onnxruntime.InferenceSession

    def record(model: object, *args: object, **kwargs: object) -> object:
        loaded.append(str(model))
        return session(model, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", record)
    models = Path(os.environ["NARRATOR_CACHE_DIR"]) / "models"
    models.unlink()
    models.mkdir()
    yield
    loaded += [path.name for path in models.iterdir()]
    if loaded:
        pytest.fail(f"loads the voice {loaded[0]} but is not marked slow", pytrace=False)
    if not request.node.stash.get(_HAD_TORCH, True) and "torch" in sys.modules:
        pytest.fail("imports torch but is not marked slow", pytrace=False)


@pytest.fixture
def fake_voice(user_dirs: Path):
    """Register the fake engine and a user preset named "fake" that uses it."""
    register_engine("fake", FakeEngine)
    (user_dirs / "fake.toml").write_text(FAKE_PRESET)
    FakeEngine.calls.clear()
    yield "fake"
    unregister_engine("fake")


class FailingEngine(FakeEngine):
    """The fake engine, except that its Nth synthesis raises ``raises`` (a class)."""

    name = "failing"
    fail_on = 2
    raises: type[BaseException] = EngineError

    def __init__(self, voice: Voice) -> None:
        super().__init__(voice)
        self.count = 0

    def synthesize(self, text: str) -> np.ndarray:
        self.count += 1
        if self.count == self.fail_on:
            raise self.raises(f"the failing engine failed on call {self.count} on purpose")
        return super().synthesize(text)


@pytest.fixture
def failing_voice(user_dirs: Path):
    """Register FailingEngine and a user preset named "failing" that uses it.

    Yields the class; set ``fail_on`` and ``raises`` on it (with monkeypatch) to choose
    when and how it fails.
    """
    register_engine("failing", FailingEngine)
    (user_dirs / "failing.toml").write_text(
        FAKE_PRESET.replace('"fake"', '"failing"').replace('"tone"', '"broken-tone"')
    )
    yield FailingEngine
    unregister_engine("failing")
