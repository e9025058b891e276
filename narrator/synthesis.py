"""Segments -> clips: the engine, the clip cache, and worker processes or threads.

Clips come out one chunk at a time, in the order of the segments whatever the
number of jobs or of concurrent calls (:attr:`Engine.concurrent`), and each one
is stored in the cache as soon as it is made, so an interrupted run loses at
most the clips that were being synthesized.  Every clip an engine makes is
checked (:func:`speak`) before it is cached or stitched.  Worker processes end
when the process that started them dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Protocol, TypeAlias

import numpy as np

from .cache import ClipCache, clip_key
from .engines import THREADS_ENV, Engine, concurrent_calls, engine_threads, load_engine
from .errors import EngineError, NarratorError, OptionError
from .voices import Voice

logger = logging.getLogger(__name__)

MAX_JOBS = 64

_Clip: TypeAlias = "Future[tuple[np.ndarray, float]] | np.ndarray"
"""A clip from the cache, or one a worker is making (with its engine seconds)."""


@dataclass
class SynthesisStats:
    """What synthesis did."""

    synthesized: int = 0
    """Clips made by the engine."""

    cache_hits: int = 0
    """Clips taken from the cache."""

    engine_seconds: float = 0.0
    """Time spent in the engine (summed over workers)."""


WINDOW = 8
"""Sentences in flight per engine call running at once.  The clips are handed on in
order, so a long sentence at the head holds back the slots behind it: with 2 per call,
the story ran on one of its two calls for 0.15 s at a time, several times."""


class WorkerPool(Protocol):
    """Workers elsewhere (a Ray cluster: :mod:`narrator.cluster`) that each load the
    engine once and speak the texts sent to them."""

    workers: int
    """Engine calls running at once (the window of texts in flight follows it)."""

    def start(self, engine: type[Engine], voice: Voice, device: str, threads: int) -> Executor:
        """An executor whose workers load *voice* with *engine* on *device*, with
        :data:`~narrator.engines.THREADS_ENV` set to *threads*, and run
        ``submit(worker_synthesize, text)`` there; its ``shutdown`` ends them."""
        ...


class Synthesizer:
    """Speaks lists of text chunks with one voice, through the cache and *jobs* workers
    (or the workers of *pool*)."""

    def __init__(
        self,
        voice: Voice,
        *,
        device: str = "auto",
        engine: Engine | Future[Engine] | None = None,
        cache: ClipCache | None = None,
        jobs: int = 1,
        pool: WorkerPool | None = None,
    ) -> None:
        if pool is not None:
            jobs = pool.workers
        elif not 1 <= jobs <= MAX_JOBS:
            raise OptionError(f"jobs must be between 1 and {MAX_JOBS}, not {jobs}")
        self.voice = voice
        self.device = device
        self.jobs = jobs
        self.pool = pool
        self.cache = cache
        self.stats = SynthesisStats()
        # An engine handed over loaded is the caller's; one still loading (or loaded
        # here) is closed with the synthesizer.
        self._own_engine = not isinstance(engine, Engine)
        if engine is None:
            engine = load_engine(voice, device=device)
        self.engine = engine if isinstance(engine, Engine) else engine.result()
        self.threads = engine_threads(self.engine.concurrent)
        # Engine calls running at once: worker processes, or threads sharing the model.
        self.calls = 1
        if jobs > 1 or pool is not None:
            self.calls = jobs
        elif self.engine.concurrent and self.engine.batch_size == 1:
            self.calls = concurrent_calls(self.threads)
        self.sample_rate = self.engine.sample_rate
        self.max_chars = self.engine.max_chars
        # ONNX Runtime and torch round differently with different thread counts, so
        # the count is part of what a cached clip's sound depends on.
        self._identity = {"engine": self.engine.describe(), "voice": voice.sound_identity(),
                          "threads": self.threads}  # fmt: skip

    def clips(self, chunked: Iterable[Sequence[str]]) -> Iterator[np.ndarray]:
        """The clip of every chunk of every segment in *chunked* (one list of chunks per
        segment), in order: exactly one clip per chunk, so a caller takes ``len(chunks)``
        clips for each segment.

        Clips are handed on one chunk at a time and only a window of chunks is in
        flight, so memory is bounded by a chunk, not by a segment (a page without a
        full stop is one segment of many chunks)."""
        texts = (text for chunks in chunked for text in chunks)
        if self.pool is None and self.jobs == 1 and self.engine.batch_size > 1:
            yield from self._batched(texts)
        elif self.pool is None and self.calls == 1:
            for text in texts:
                yield self._clip(text)
        else:
            yield from self._parallel(texts)

    def _batched(self, texts: Iterable[str]) -> Iterator[np.ndarray]:
        """The clips in order, the uncached ones spoken :attr:`Engine.batch_size` at a time."""
        held: list[tuple[str, np.ndarray | None]] = []  # (key, the cached clip or None)
        wanted: list[str] = []  # the texts of the held chunks that are not cached
        for text in texts:
            key, cached = self._cached(text)
            held.append((key, cached))
            if cached is None:
                wanted.append(text)
            if not wanted or len(wanted) >= self.engine.batch_size:
                yield from self._speak(held, wanted)
                held, wanted = [], []
        yield from self._speak(held, wanted)

    def _speak(
        self, held: list[tuple[str, np.ndarray | None]], wanted: list[str]
    ) -> Iterator[np.ndarray]:
        """Speak *wanted* in one batch and give the *held* clips, the new ones in their places."""
        made: Iterator[np.ndarray] = iter(())
        seconds = 0.0
        if wanted:
            began = time.perf_counter()
            made = iter(speak_batch(self.engine, wanted))
            seconds = (time.perf_counter() - began) / len(wanted)
        for key, cached in held:
            yield cached if cached is not None else self._keep(key, next(made), seconds)

    def _cached(self, text: str) -> tuple[str, np.ndarray | None]:
        """(the cache key of *text*, its clip from the cache or None)."""
        if self.cache is None:
            return "", None
        key = clip_key(text, self._identity)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
        return key, cached

    def _keep(self, key: str, clip: np.ndarray, seconds: float) -> np.ndarray:
        """Count a (checked) clip the engine made in *seconds*, and cache it under *key*."""
        self.stats.synthesized += 1
        self.stats.engine_seconds += seconds
        if self.cache is not None:
            self.cache.put(key, clip)
        return clip

    def _clip(self, text: str) -> np.ndarray:
        key, cached = self._cached(text)
        if cached is not None:
            return cached
        return self._keep(key, *self._timed(text))

    def _timed(self, text: str) -> tuple[np.ndarray, float]:
        """The engine's checked clip of *text*, and the seconds it took."""
        began = time.perf_counter()
        clip = speak(self.engine, text)
        return clip, time.perf_counter() - began

    def _pool(self) -> tuple[Executor, Callable[[str], tuple[np.ndarray, float]]]:
        """Where :meth:`_parallel` sends the texts, and what speaks each one there."""
        if self.pool is not None:
            started = self.pool.start(type(self.engine), self.voice, self.device, self.threads)
            return started, worker_synthesize
        if self.jobs > 1:
            pool: Executor = ProcessPoolExecutor(
                self.jobs, mp_context=get_context("spawn"), initializer=_worker_init,
                initargs=(type(self.engine), self.voice, self.device, self.threads, os.getpid()),
            )  # fmt: skip
            return pool, worker_synthesize
        return ThreadPoolExecutor(self.calls, thread_name_prefix="narrator-speak"), self._timed

    def _parallel(self, texts: Iterable[str]) -> Iterator[np.ndarray]:
        window = WINDOW * self.calls
        pool, speak_there = self._pool()
        try:
            pending: deque[tuple[str, _Clip]] = deque()
            items = iter(texts)
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    text = next(items, None)
                    if text is None:
                        exhausted = True
                        break
                    key, cached = self._cached(text)
                    pending.append((key, cached if cached is not None
                                    else pool.submit(speak_there, text)))  # fmt: skip
                if not pending:
                    return
                key, item = pending.popleft()
                yield item if isinstance(item, np.ndarray) else self._keep(key, *_result(item))
        finally:  # on an error or an interruption, start nothing more
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._own_engine:
            self.engine.close()


def _result(made: Future[tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
    """What a worker made; a worker process that died (killed, out of memory) is an
    :class:`EngineError`, not a traceback."""
    try:
        return made.result()
    except BrokenExecutor as exc:
        raise EngineError(f"a synthesis worker process ended unexpectedly ({exc}); "
                          "try again, with fewer --jobs if memory is short") from None  # fmt: skip


def clip_problem(clip: object) -> str | None:
    """What is wrong with *clip* as an engine's output, or None: it must be a 1-D
    array of floating-point samples, all finite (a NaN or an infinite sample would
    silence or break the whole file once mastered)."""
    if not isinstance(clip, np.ndarray) or clip.ndim != 1:
        shape = getattr(clip, "shape", None)
        what = type(clip).__name__ if shape is None else f"shape {shape}"
        return f"not a 1-D array of samples ({what})"
    if not np.issubdtype(clip.dtype, np.floating):
        return f"samples of type {clip.dtype}, not floating-point"
    bad = np.count_nonzero(~np.isfinite(clip))
    if bad:
        return f"{bad} of {len(clip)} samples not finite (NaN or infinite)"
    return None


RETRIES = 1
"""Times a text is spoken again when the engine's clip is unusable (see :func:`clip_problem`)."""


def speak(engine: Engine, text: str) -> np.ndarray:
    """*engine*'s clip of *text* as float32, checked with :func:`clip_problem`.

    Every clip an engine makes passes through here (or :func:`speak_batch`), in this
    process or a worker, before it is cached or stitched.  An unusable clip is made
    again :data:`RETRIES` time(s), then it is an :class:`EngineError` naming the text;
    so is any exception of the engine that is not a narrator error already."""
    for attempt in range(RETRIES + 1):
        try:
            clip = engine.synthesize(text)
        except NarratorError:
            raise
        except Exception as exc:  # an engine's own failure: one line, naming the text
            raise EngineError(f"the {engine.name} engine failed on {_quote(text)}: "
                              f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        checked = _checked(clip)
        if isinstance(checked, np.ndarray):
            return checked
        if attempt < RETRIES:
            logger.info("the %s engine gave %s for %s: speaking it again",
                           engine.name, checked, _quote(text))  # fmt: skip
    raise EngineError(f"the {engine.name} engine gave {checked} for {_quote(text)}, "
                      f"{RETRIES + 1} times; the voice model may be damaged")  # fmt: skip


def speak_batch(engine: Engine, texts: Sequence[str]) -> list[np.ndarray]:
    """:func:`speak` for several texts in one :meth:`Engine.synthesize_batch` call; a
    clip that is unusable is made again on its own."""
    try:
        clips = list(engine.synthesize_batch(texts))
    except NarratorError:
        raise
    except Exception as exc:
        raise EngineError(
            f"the {engine.name} engine failed on a batch of {len(texts)} texts from "
            f"{_quote(texts[0])}: {type(exc).__name__}: {exc}"
        ) from exc
    if len(clips) != len(texts):
        raise EngineError(f"the {engine.name} engine gave {len(clips)} clips for "
                          f"{len(texts)} texts")  # fmt: skip
    out = []
    for text, clip in zip(texts, clips, strict=True):
        checked = _checked(clip)
        if not isinstance(checked, np.ndarray):
            logger.info("the %s engine gave %s for %s: speaking it again",
                           engine.name, checked, _quote(text))  # fmt: skip
            checked = speak(engine, text)
        out.append(checked)
    return out


def _checked(clip: object) -> np.ndarray | str:
    """*clip* as float32 samples, or what is wrong with it."""
    problem = clip_problem(clip)
    if problem is not None:
        return problem
    assert isinstance(clip, np.ndarray)
    with np.errstate(over="ignore"):
        samples = clip.astype(np.float32, copy=False)
    # A float64 sample beyond float32's range is infinite now.
    return clip_problem(samples) or samples


QUOTED_CHARS = 80
"""Characters of a text that an error message quotes."""


def _quote(text: str) -> str:
    return repr(text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…")


PARENT_POLL = 1.0
"""Seconds between a worker's checks that its parent is still alive, where the operating
system cannot tell it (anywhere but Linux)."""

_worker_engine: Engine | None = None


def _worker_init(
    engine: type[Engine], voice: Voice, device: str, threads: int, parent: int
) -> None:
    global _worker_engine
    _die_with(parent)
    os.environ[THREADS_ENV] = str(threads)
    logging.getLogger().setLevel(logging.WARNING)
    _worker_engine = engine.load(voice, device=device)


def _die_with(parent: int) -> None:
    """End this worker process when *parent* dies, however it dies (``kill -9``
    included): each worker holds a whole model in memory, and nothing else would end
    it.  Linux sends the kernel's parent-death signal; elsewhere a thread polls."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # it died before the signal was asked for
                    os._exit(1)
                return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="narrator-parent-watch", daemon=True).start()


_PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process gets when its parent dies."""


def worker_synthesize(text: str) -> tuple[np.ndarray, float]:
    """In a worker: the clip of *text* by the engine the worker loaded, and its seconds."""
    assert _worker_engine is not None
    began = time.perf_counter()
    clip = speak(_worker_engine, text)
    return clip, time.perf_counter() - began
