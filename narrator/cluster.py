"""Synthesis on a Ray cluster (``narrator batch --ray``; the ``ray`` extra).

:class:`RayPool` is a :class:`~narrator.synthesis.WorkerPool`: its workers are Ray
actors that load the voice's engine once and speak batches of sentences, one actor
per :func:`~narrator.engines.engine_threads` CPUs for a CPU voice, or one per GPU
(``num_gpus=1``) for a voice on ``cuda``, where an engine that batches speaks each
batch in one pass.  The clips come back to the driver, which writes them into its
clip cache and masters the books (see :mod:`narrator.batch`): the workers need no
shared storage, and the driver's cache is written by one process.

A worker killed mid-run (``kill -9``, a node lost) costs only its batch in flight:
Ray starts the actor again (:data:`MAX_RESTARTS`) and runs the batch again there
(:data:`MAX_TASK_RETRIES`).  With a deterministic voice the clips are the same.

Only this module imports ray, and only :func:`connect` or :class:`RayPool` need it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np

from .engines import THREADS_ENV, Engine
from .errors import EngineError, NarratorError, OptionError
from .synthesis import speak, speak_batch, worker_synthesize
from .voices import Voice

logger = logging.getLogger(__name__)

RAY_INSTALL_HINT = 'install it with: pip install "narrator-tts[ray]"'

BATCH = 4
"""Sentences sent to an actor in one call (on a GPU, at least the engine's batch size).
Small enough that a lost batch costs little and the last books do not wait on one
actor; large enough that Ray's ~1 ms per call is nothing beside ~0.1 s a sentence."""

MAX_RESTARTS = 4
"""Times Ray starts a dead actor again before the batch fails."""

MAX_TASK_RETRIES = 4
"""Times Ray sends a batch again to an actor that died while speaking it."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError(f"--ray needs Ray, which is not installed; {RAY_INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at *address* (``auto``, ``ray://host:port``, ``host:port``),
    or start a local one (None) with *num_cpus* CPUs (default: all)."""
    ray = _ray()
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise EngineError(f"cannot connect to {where}: {exc}") from None


class _Speaker:
    """A Ray actor: one engine, loaded once, speaking batches of texts."""

    def __init__(self, engine: type[Engine], voice: Voice, device: str, threads: int) -> None:
        os.environ[THREADS_ENV] = str(threads)
        logging.getLogger().setLevel(logging.WARNING)
        self.engine = engine.load(voice, device=device)

    def speak(self, texts: Sequence[str]) -> list[tuple[np.ndarray, float]]:
        """The checked clip of each of *texts*, with the engine seconds it took."""
        began = time.perf_counter()
        if self.engine.batch_size > 1:
            clips = speak_batch(self.engine, texts)
            share = (time.perf_counter() - began) / max(1, len(texts))
            return [(clip, share) for clip in clips]
        made = []
        for text in texts:
            began = time.perf_counter()
            made.append((speak(self.engine, text), time.perf_counter() - began))
        return made

    def pid(self) -> int:
        return os.getpid()


class RayPool:
    """Ray actors that speak for a :class:`~narrator.synthesis.Synthesizer`.

    *actors* is how many (default: as many as the cluster has GPUs for a voice on a GPU,
    else its CPUs divided by the engine's threads); *gpus* puts each on a GPU of its own.
    """

    def __init__(self, actors: int | None = None, *, gpus: bool = False, batch: int = BATCH):
        ray = _ray()
        if not ray.is_initialized():
            connect()
        self.gpus = gpus
        self.batch = batch
        self._asked = actors
        resources = ray.cluster_resources()
        if gpus and not resources.get("GPU"):
            raise OptionError("the Ray cluster has no GPU; use --device cpu")
        self.workers = actors or max(1, int(resources.get("GPU" if gpus else "CPU", 1)))
        self.executors: list[_RayExecutor] = []

    def start(self, engine: type[Engine], voice: Voice, device: str, threads: int) -> Executor:
        ray = _ray()
        total = ray.cluster_resources().get("CPU", 1)
        cpus: float = threads if not self.gpus else 1
        if self._asked is None and not self.gpus:
            self.workers = max(1, int(total // cpus))
        else:  # as many as asked for, sharing the CPUs there are, so that all can start
            cpus = min(cpus, total / self.workers)
        remote = ray.remote(_Speaker).options(
            num_cpus=cpus, num_gpus=1 if self.gpus else 0,
            max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
        )  # fmt: skip
        actors = [remote.remote(engine, voice, device, threads) for _ in range(self.workers)]
        batch = max(self.batch, getattr(engine, "batch_size", 1))
        executor = _RayExecutor(actors, batch)
        self.executors.append(executor)
        return executor


class _RayExecutor(Executor):
    """Collects texts into batches and sends each to the actor with the least in flight."""

    def __init__(self, actors: list[Any], batch: int) -> None:
        self.actors = actors
        self.batch = batch
        self._load = [0] * len(actors)
        self._pending: list[tuple[str, _Queued]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not worker_synthesize or len(args) != 1 or kwargs:
            raise TypeError("a Ray pool only runs worker_synthesize(text)")
        future = _Queued(self)
        with self._lock:
            self._pending.append((args[0], future))
            if len(self._pending) >= self.batch:
                self._send()
        return future

    def flush(self) -> None:
        with self._lock:
            self._send()

    def _send(self) -> None:
        if not self._pending:
            return
        texts = [text for text, _ in self._pending]
        futures = [future for _, future in self._pending]
        self._pending = []
        slot = min(range(len(self.actors)), key=self._load.__getitem__)
        self._load[slot] += 1
        ref = self.actors[slot].speak.remote(texts)
        ref.future().add_done_callback(lambda done: self._done(slot, done, futures))

    def _done(self, slot: int, done: Future[Any], futures: list[_Queued]) -> None:
        with self._lock:
            self._load[slot] -= 1
        try:
            made = done.result()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the clips
            failure = _failure(exc)
            for future in futures:
                future.set_exception(failure)
            return
        for future, clip in zip(futures, made, strict=True):
            future.set_result(clip)

    def actor_pids(self) -> list[int]:
        """The process ids of the actors (for tests that kill one)."""
        ray = _ray()
        return list(ray.get([actor.pid.remote() for actor in self.actors]))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        ray = _ray()
        with self._lock:
            self._pending = []
        for actor in self.actors:
            ray.kill(actor)


class _Queued(Future[Any]):
    """A text's clip, sent when its batch fills or when someone waits for it."""

    def __init__(self, executor: _RayExecutor) -> None:
        super().__init__()
        self._executor = executor

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            self._executor.flush()
        return super().result(timeout)


def _failure(exc: BaseException) -> BaseException:
    """A narrator error for what a Ray call raised: the engine's own error as it was."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, NarratorError):
        return cause
    if isinstance(exc, NarratorError):
        return exc
    return EngineError(f"a Ray worker failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
