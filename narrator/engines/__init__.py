"""Engines: the plugins that turn one piece of text into audio.

An engine is a subclass of :class:`Engine`, registered under a name either in
the ``narrator.engines`` entry-point group of its package::

    [project.entry-points."narrator.engines"]
    myengine = "my_package.engine:MyEngine"

or at run time with :func:`register_engine`.  The built-in engines register
through the same entry-point group; they are also known by module path, so a
source checkout works without being installed.  An engine's module is only
imported when a voice needs it, so heavy dependencies (torch) stay out of
everything else.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np

from .. import DISTRIBUTION
from ..errors import EngineError, ModelNotFoundError, NarratorError, OptionError, VoiceError
from ..voices import Voice

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "narrator.engines"

THREADS_ENV = "NARRATOR_ENGINE_THREADS"
"""How many CPU threads each engine call uses (see :func:`engine_threads`)."""

BATCH_ENV = "NARRATOR_BATCH_SIZE"
"""Sentences an engine that batches speaks in one pass (default: 8 on a GPU, 1 on a CPU,
where batching does not pay)."""
GPU_BATCH_SIZE = 8

DEVICES = ("auto", "cpu", "cuda")
"""Values of the ``device`` option."""

BUNDLED, DOWNLOADED, LOCAL, MISSING = "bundled", "downloaded", "local", "missing"
"""Where a voice's model is (:meth:`Engine.model_status`): installed as a Python package,
in the engine's download cache, at a path the preset names, or not on disk yet."""

UNAVAILABLE, UNKNOWN = "unavailable", "unknown"
"""The engine is not installed, or cannot tell where its models are."""

ON_DISK = (BUNDLED, DOWNLOADED, LOCAL)

NETWORK_TIMEOUT = 10.0
"""Seconds to wait for a model host to answer before calling it unreachable."""

_BUILTIN = {
    "piper": "narrator.engines.piper:PiperEngine",
    "coqui": "narrator.engines.coqui:CoquiEngine",
    "hibari": "narrator.engines.hibari:HibariEngine",
    "kokoro": "narrator.engines.kokoro:KokoroEngine",
}
COQUI_INSTALL_HINT = f'install it with: pip install "{DISTRIBUTION}[coqui]"'
"""How to add the Coqui engine to an installed narrator (the ``coqui`` extra)."""

_INSTALL_HINTS = {
    "coqui": COQUI_INSTALL_HINT,
    "kokoro": f'install it with: pip install "{DISTRIBUTION}[kokoro]"',
}
_registered: dict[str, type[Engine]] = {}


class Engine(ABC):
    """A loaded voice model that speaks one sentence at a time.

    Engines must not split, re-normalize or pad the text they are given, and
    must return the model's raw level: narrator does all of that itself.
    """

    name: ClassVar[str]
    """The name presets use in their ``engine`` key."""

    sample_rate: int
    """Samples per second of the audio :meth:`synthesize` returns."""

    max_chars: int | None = None
    """The longest text the model takes in one call, or None for no limit."""

    batch_size: int = 1
    """Texts :meth:`synthesize_batch` speaks in one pass of the model (1: no batching)."""

    concurrent: bool = False
    """Whether :meth:`synthesize` may run on several threads at once, all sharing the
    one model.  Such an engine loads with ``engine_threads(concurrent=True)`` threads
    per call (one on a machine of up to :data:`MAX_CALLS` cores), and narrator keeps
    :func:`concurrent_calls` calls going: on a CPU, sentences side by side on one
    thread each use the cores better than one sentence on several threads (Piper:
    the sample story in 6.1 s against 7.5 s on 2 cores, and 12.0 against 13.6
    CPU-seconds)."""

    @classmethod
    @abstractmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> Engine:
        """Load *voice*'s model on *device* (``auto``, ``cpu`` or ``cuda``)."""

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """Speak *text*: mono float32 samples in [-1, 1] at :attr:`sample_rate`."""

    def synthesize_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Speak each of *texts*, several in one pass where the engine batches (on a GPU);
        each clip is what :meth:`synthesize` would return for its text."""
        return [self.synthesize(text) for text in texts]

    def describe(self) -> dict[str, Any]:
        """Facts about the loaded model that change how it sounds (for logs and caches)."""
        return {"engine": self.name, "sample_rate": self.sample_rate}

    @classmethod
    def text_limit(cls, voice: Voice) -> int | None:
        """The longest text *voice*'s model takes in one call, without loading it.

        Defaults to :attr:`max_chars`; an engine whose limit depends on the
        voice (its language, say) overrides this.  Narrator cuts longer
        segments into chunks before they reach :meth:`synthesize`.
        """
        return cls.max_chars

    @classmethod
    def model_status(cls, voice: Voice) -> str:
        """Where *voice*'s model is: ``bundled``, ``downloaded``, ``local``, ``missing``, or
        ``unknown``.  Cheap: no network, no model loading, no heavy imports."""
        return LOCAL if voice.local_model() is not None else UNKNOWN

    @classmethod
    def model_files(cls, voice: Voice) -> list[Path]:
        """The files of *voice*'s model that are on disk (none while it is missing), for
        ``narrator voices`` to size.  Cheap, like :meth:`model_status`."""
        local = voice.local_model()
        if local is None:
            return []
        return sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]

    @classmethod
    def download(cls, voice: Voice) -> None:
        """Put *voice*'s model on disk ahead of use; raises :class:`ModelNotFoundError`."""
        if cls.model_status(voice) not in ON_DISK:
            raise ModelNotFoundError(f"the {cls.name} engine cannot download models; "
                                     f"install {voice.model} yourself")  # fmt: skip

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model's resources."""


def check_option_names(voice: Voice, engine: str, allowed: Mapping[str, str]) -> None:
    """Raise :class:`VoiceError` when *voice*'s ``[options]`` has a key *engine* does not
    take; *allowed* maps each key it takes to what it does, for the message."""
    unknown = sorted(set(voice.options) - set(allowed))
    if unknown:
        listed = "; ".join(f"{key}: {text}" for key, text in allowed.items())
        raise VoiceError(f"voice {voice.name!r}: unknown {engine} option(s) "
                         f"{', '.join(unknown)} (allowed: {listed})")  # fmt: skip


def check_number_option(
    voice: Voice, key: str, low: float, high: float, *, whole: bool = False
) -> None:
    """Raise :class:`VoiceError` (naming the preset file and the key) unless *voice*'s
    ``[options]`` *key*, where it is given, is a finite number from *low* to *high*
    (a whole one if *whole*).  For engines to check their options as they load, before
    a wrong value reaches the model as a traceback or as silent audio."""
    if key not in voice.options:
        return
    value = voice.options[key]
    types = (int,) if whole else (int, float)
    if not (
        isinstance(value, types)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    ):
        where = str(voice.path) if voice.path else f"voice {voice.name!r}"
        kind = "whole number" if whole else "number"
        raise VoiceError(f"{where}: [options] {key} must be a {kind} from {low:g} to {high:g}, "
                         f"not {value!r}")  # fmt: skip


def register_engine(name: str, engine: type[Engine]) -> None:
    """Make *engine* available under *name* for this process."""
    _registered[name] = engine


def unregister_engine(name: str) -> None:
    _registered.pop(name, None)


def available_engines() -> list[str]:
    """Names of every engine narrator can find (registered, installed or built in)."""
    names = set(_registered) | set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as *name*."""
    if name in _registered:
        return _registered[name]
    return _installed_engine(name)


@cache
def _installed_engine(name: str) -> type[Engine]:
    """The engine class an entry point or narrator itself provides as *name* (looked up
    once per process: reading every installed package's entry points takes 20 ms)."""
    target: Any = None
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        target = ep
        break
    try:
        if target is not None:
            cls = target.load()
        elif name in _BUILTIN:
            module, _, attr = _BUILTIN[name].partition(":")
            cls = getattr(importlib.import_module(module), attr)
        else:
            hint = _INSTALL_HINTS.get(name)
            known = ", ".join(available_engines())
            raise VoiceError(  # the preset names it: a broken voice
                f"unknown engine {name!r}" + (f"; {hint}" if hint else f"; known engines: {known}")
            )
    except ImportError as exc:
        hint = _INSTALL_HINTS.get(name, f"reinstall the package that provides the {name} engine")
        raise EngineError(f"the {name} engine cannot be imported ({exc}); {hint}") from None
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise EngineError(f"engine {name!r} does not provide a narrator Engine class")
    return cls


def model_status(voice: Voice) -> str:
    """Where *voice*'s model is (see :meth:`Engine.model_status`); ``unavailable`` when its
    engine is not installed."""
    try:
        return engine_class(voice.engine).model_status(voice)
    except (EngineError, VoiceError):
        return UNAVAILABLE


def model_size(voice: Voice) -> int | None:
    """Bytes of *voice*'s model on disk (see :meth:`Engine.model_files`); ``None`` when none
    of it is, or its engine is not installed."""
    try:
        files = engine_class(voice.engine).model_files(voice)
    except (EngineError, VoiceError):
        return None
    sizes = []
    for path in dict.fromkeys(files):
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            continue
    return sum(sizes) if sizes else None


def download_model(voice: Voice) -> str:
    """Download *voice*'s model unless it is on disk; returns its :func:`model_status`."""
    cls = engine_class(voice.engine)
    cls.download(voice)
    return cls.model_status(voice)


def require_network(url: str, what: str, hint: str, *, timeout: float | None = None) -> None:
    """Raise :class:`ModelNotFoundError` unless *url*'s host (or its proxy) answers within
    *timeout* seconds (default :data:`NETWORK_TIMEOUT`).

    Checked before a download, so that a machine without a network gets one clear error at
    once rather than a traceback or a hang.  The message says that *what* is not on disk,
    then *hint*: how to get it.
    """
    import socket

    timeout = NETWORK_TIMEOUT if timeout is None else timeout
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlsplit(proxy if "//" in proxy else f"//{proxy}")
        host, port = via.hostname or host, via.port or 8080
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            failure.append(exc)

    # A thread, because name lookups ignore socket timeouts.
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout)
    if probe.is_alive() or failure:
        reason = failure[0] if failure else f"no answer in {timeout:g} s"
        raise ModelNotFoundError(f"{what} is not on disk and {host} cannot be reached "
                                 f"({reason}); {hint}")  # fmt: skip


def load_engine(voice: Voice, *, device: str = "auto") -> Engine:
    """Load the engine and model that *voice* names."""
    if device not in DEVICES:
        raise OptionError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    cls = engine_class(voice.engine)
    try:
        engine = cls.load(voice, device=device)
    except NarratorError:
        raise
    except Exception as exc:  # a plugin's own failure: one line, naming the voice
        raise EngineError(f"the {voice.engine} engine cannot load voice {voice.name!r}: "
                          f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
    logger.info("loaded voice %s with the %s engine", voice.name, voice.engine)
    return engine


def load_engine_in_background(voice: Voice, *, device: str = "auto") -> Future[Engine]:
    """Start loading *voice*'s engine on a thread of its own, and return at once.

    Loading a model mostly runs outside the GIL, so the caller can import, read and
    split the text meanwhile; errors come out of the future's ``result()``.  The
    thread is not a daemon: a process that gives up meanwhile (on bad input, say)
    exits once the load is over, since leaving in the middle of ONNX Runtime's or
    torch's set-up aborts it."""
    future: Future[Engine] = Future()

    def load() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(load_engine(voice, device=device))
        except BaseException as exc:  # handed to whoever waits for the engine
            future.set_exception(exc)

    threading.Thread(target=load, name="narrator-load").start()
    return future


MAX_ENGINE_THREADS = 4
"""Threads one engine call uses by default: inference on one sentence gains little
beyond this, and more cores are better used by more calls or ``--jobs``."""

MAX_CALLS = 4
"""Calls a concurrent engine runs at once at most (each holds a sentence's activations)."""


def onnx_cuda(device: str) -> bool:
    """Whether an ONNX Runtime engine runs on CUDA for *device* (``auto``, ``cpu`` or
    ``cuda``): auto takes CUDA where onnxruntime has its provider; ``cuda`` without it is
    an :class:`OptionError`."""
    if device == "cpu":
        return False
    import onnxruntime

    has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise OptionError(
            "--device cuda: onnxruntime has no CUDA provider here; install onnxruntime-gpu "
            "on a machine with an NVIDIA GPU, or use --device cpu"
        )
    return has_cuda


def engine_threads(concurrent: bool = False) -> int:
    """The CPU threads each engine call uses: ``$NARRATOR_ENGINE_THREADS``, else the
    cores (up to :data:`MAX_ENGINE_THREADS`), shared among :data:`MAX_CALLS` calls
    for a *concurrent* engine.  The same whatever the number of jobs or calls.

    ONNX Runtime and torch can round differently with different thread counts, so
    one count for a serial run and for each of N workers keeps their samples equal.
    """
    import os

    value = os.environ.get(THREADS_ENV, "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    cores = os.cpu_count() or 1
    if concurrent:
        cores //= min(cores, MAX_CALLS)
    return max(1, min(cores, MAX_ENGINE_THREADS))


def concurrent_calls(threads: int) -> int:
    """How many calls of *threads* threads each a concurrent engine runs at once."""
    import os

    return max(1, min(MAX_CALLS, (os.cpu_count() or 1) // threads))


def batch_size(on_gpu: bool) -> int:
    """How many sentences a batching engine speaks at once: ``$NARRATOR_BATCH_SIZE``,
    else :data:`GPU_BATCH_SIZE` on a GPU and 1 on a CPU."""
    import os

    value = os.environ.get(BATCH_ENV, "")
    if value:
        if not value.isdigit() or not 1 <= int(value) <= 256:
            raise OptionError(f"{BATCH_ENV} must be a whole number from 1 to 256, not {value!r}")
        return int(value)
    return GPU_BATCH_SIZE if on_gpu else 1
