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

    def facts(self) -> dict[str, Any]:
        """What the driver's :class:`RemoteEngine` stands in with."""
        engine = self.engine
        return {"name": engine.name, "sample_rate": engine.sample_rate,
                "max_chars": engine.max_chars, "batch_size": engine.batch_size,
                "concurrent": engine.concurrent, "describe": engine.describe()}  # fmt: skip

    def pid(self) -> int:
        return os.getpid()


class RemoteEngine(Engine):
    """Stands in the driver for an engine loaded in a pool's actors: its facts (sample
    rate, limits, :meth:`describe` for the cache keys), no model.  The driver only
    masters from the cache, so it never speaks; if a clip is missing all the same (the
    cache could not be written), that is an :class:`EngineError`."""

    name = "remote"

    def __init__(self, facts: dict[str, Any], key: str) -> None:
        self.name = facts["name"]  # type: ignore[misc]
        self.sample_rate = facts["sample_rate"]
        self.max_chars = facts["max_chars"]
        self.batch_size = facts["batch_size"]
        self.concurrent = facts["concurrent"]
        self._facts = facts["describe"]
        self.key = key
        """Which actors of the pool it stands for."""

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> Engine:
        raise EngineError("a remote engine is made by RayPool.engine(), not loaded")

    def synthesize(self, text: str) -> np.ndarray:
        raise EngineError(
            f"the clip of {text[:60]!r} is not in the clip cache, and this process does "
            "not load the voice; check that the cache can be written"
        )

    def describe(self) -> dict[str, Any]:
        return dict(self._facts)


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
        self._started: dict[str, tuple[_RayExecutor, dict[str, Any]]] = {}

    def engine(self, voice: Voice, device: str) -> RemoteEngine:
        """Start the actors for *voice* (taken by :meth:`start`) and return an engine that
        stands in for theirs in this process, which then loads no model at all.

        The actors load with the engine threads this process would give a loaded engine
        (:func:`~narrator.engines.engine_threads`), as ``narrate()``'s worker processes do,
        so the cache keys are ``read``'s on this machine.  Whether an engine runs calls
        side by side is only known once it is loaded: one actor loads first, and is
        started again with other threads if the guess was wrong."""
        from .engines import engine_class, engine_threads

        key = repr((voice, device))
        if key not in self._started:
            cls = engine_class(voice.engine)
            guess = engine_threads(not self.gpus)  # CPU engines mostly run calls side by side
            first = self._actors(cls, voice, device, guess, 1)
            facts = self._facts(first)
            threads = engine_threads(facts["concurrent"])
            if threads != guess:
                first.shutdown()
                first = self._actors(cls, voice, device, threads, 1)
                facts = self._facts(first)
            more = self._actors(cls, voice, device, threads, self.workers - 1)
            executor = _RayExecutor(
                first.actors + more.actors, max(self.batch, facts["batch_size"])
            )
            self._started[key] = (executor, facts)
        return RemoteEngine(self._started[key][1], key)

    def _facts(self, executor: _RayExecutor) -> dict[str, Any]:
        try:
            facts: dict[str, Any] = _ray().get(executor.actors[0].facts.remote())
        except Exception as exc:  # the model does not load there: the engine's own error
            executor.shutdown()
            raise _failure(exc) from None
        return facts

    def close(self) -> None:
        """End the actors started for voices that were never spoken with."""
        for executor, _ in self._started.values():
            executor.shutdown()
        self._started.clear()

    def start(self, engine: type[Engine], voice: Voice, device: str, threads: int) -> Executor:
        """The actors started for *voice* by :meth:`engine` (taken: a second start makes
        new ones), or new actors."""
        key = repr((voice, device))
        if issubclass(engine, RemoteEngine) and key in self._started:
            return self._started.pop(key)[0]
        if issubclass(engine, RemoteEngine):
            raise EngineError("RayPool.start() needs the engine class, or RayPool.engine() first")
        executor = self._actors(engine, voice, device, threads, self.workers)
        return executor

    def _actors(
        self, engine: type[Engine], voice: Voice, device: str, threads: int, count: int
    ) -> _RayExecutor:
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
        actors = [remote.remote(engine, voice, device, threads) for _ in range(count)]
        return _RayExecutor(actors, max(self.batch, engine.batch_size))


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
