"""Segments -> clips: the engine, the clip cache, and worker processes or threads.

Clips come out in the order of the segments whatever the number of jobs or of
concurrent calls (:attr:`Engine.concurrent`), and
each one is stored in the cache as soon as it is made, so an interrupted run
loses at most the clips that were being synthesized.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TypeAlias

import numpy as np

from .cache import ClipCache, clip_key
from .engines import THREADS_ENV, Engine, concurrent_calls, engine_threads, load_engine
from .errors import OptionError
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


class Synthesizer:
    """Speaks lists of text chunks with one voice, through the cache and *jobs* workers."""

    def __init__(
        self,
        voice: Voice,
        *,
        device: str = "auto",
        engine: Engine | Future[Engine] | None = None,
        cache: ClipCache | None = None,
        jobs: int = 1,
    ) -> None:
        if not 1 <= jobs <= MAX_JOBS:
            raise OptionError(f"jobs must be between 1 and {MAX_JOBS}, not {jobs}")
        self.voice = voice
        self.device = device
        self.jobs = jobs
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
        if jobs > 1:
            self.calls = jobs
        elif self.engine.concurrent and self.engine.batch_size == 1:
            self.calls = concurrent_calls(self.threads)
        self.sample_rate = self.engine.sample_rate
        self.max_chars = self.engine.max_chars
        # ONNX Runtime and torch round differently with different thread counts, so
        # the count is part of what a cached clip's sound depends on.
        self._identity = {"engine": self.engine.describe(), "voice": voice.sound_identity(),
                          "threads": self.threads}  # fmt: skip

    def clips(self, chunked: Sequence[Sequence[str]]) -> Iterator[list[np.ndarray]]:
        """For each list of chunks (one segment), the clips of its chunks, in order."""
        if self.jobs == 1 and self.engine.batch_size > 1:
            yield from self._batched(chunked)
            return
        if self.calls == 1:
            for chunks in chunked:
                yield [self._clip(text) for text in chunks]
            return
        yield from self._parallel(chunked)

    def _batched(self, chunked: Sequence[Sequence[str]]) -> Iterator[list[np.ndarray]]:
        """Segments in order, the uncached chunks spoken :attr:`Engine.batch_size` at a time."""
        held: list[list[np.ndarray | None]] = []  # segments waiting for their clips
        wanted: list[tuple[list[np.ndarray | None], int, str]] = []  # (segment, chunk, key)
        texts: list[str] = []
        for chunks in chunked:
            entry: list[np.ndarray | None] = []
            for text in chunks:
                key, cached = self._cached(text)
                if cached is None:
                    wanted.append((entry, len(entry), key))
                    texts.append(text)
                entry.append(cached)
            held.append(entry)
            if not texts or len(texts) >= self.engine.batch_size:
                yield from self._speak(held, wanted, texts)
                held, wanted, texts = [], [], []
        yield from self._speak(held, wanted, texts)

    def _speak(
        self,
        held: list[list[np.ndarray | None]],
        wanted: list[tuple[list[np.ndarray | None], int, str]],
        texts: list[str],
    ) -> Iterator[list[np.ndarray]]:
        """Speak *texts* in one batch, put each clip where *wanted* says, and give the
        *held* segments."""
        if texts:
            began = time.perf_counter()
            clips = self.engine.synthesize_batch(texts)
            seconds = (time.perf_counter() - began) / len(texts)
            for (entry, index, key), clip in zip(wanted, clips, strict=True):
                entry[index] = self._keep(key, clip, seconds)
        for entry in held:
            yield [clip for clip in entry if clip is not None]

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
        """Count a clip the engine made in *seconds*, and cache it under *key*."""
        clip = np.asarray(clip, dtype=np.float32)
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
        """The engine's clip of *text*, and the seconds it took."""
        began = time.perf_counter()
        clip = self.engine.synthesize(text)
        return clip, time.perf_counter() - began

    def _pool(self) -> tuple[Executor, Callable[[str], tuple[np.ndarray, float]]]:
        """Where :meth:`_parallel` sends the texts, and what speaks each one there."""
        if self.jobs > 1:
            pool: Executor = ProcessPoolExecutor(
                self.jobs, mp_context=get_context("spawn"), initializer=_worker_init,
                initargs=(type(self.engine), self.voice, self.device, self.threads),
            )  # fmt: skip
            return pool, _worker_synthesize
        return ThreadPoolExecutor(self.calls, thread_name_prefix="narrator-speak"), self._timed

    def _parallel(self, chunked: Sequence[Sequence[str]]) -> Iterator[list[np.ndarray]]:
        window = WINDOW * self.calls
        pool, speak = self._pool()
        try:
            pending: deque[list[tuple[str, _Clip]]] = deque()
            items = iter(chunked)
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    chunks = next(items, None)
                    if chunks is None:
                        exhausted = True
                        break
                    entry: list[tuple[str, _Clip]] = []
                    for text in chunks:
                        key, cached = self._cached(text)
                        entry.append((key, cached if cached is not None
                                      else pool.submit(speak, text)))  # fmt: skip
                    pending.append(entry)
                if not pending:
                    return
                clips = []
                for key, item in pending.popleft():
                    if isinstance(item, np.ndarray):
                        clips.append(item)
                    else:
                        clips.append(self._keep(key, *item.result()))
                yield clips
        finally:  # on an error or an interruption, start nothing more
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._own_engine:
            self.engine.close()


_worker_engine: Engine | None = None


def _worker_init(engine: type[Engine], voice: Voice, device: str, threads: int) -> None:
    global _worker_engine
    os.environ[THREADS_ENV] = str(threads)
    logging.getLogger().setLevel(logging.WARNING)
    _worker_engine = engine.load(voice, device=device)


def _worker_synthesize(text: str) -> tuple[np.ndarray, float]:
    assert _worker_engine is not None
    began = time.perf_counter()
    clip = np.asarray(_worker_engine.synthesize(text), dtype=np.float32)
    return clip, time.perf_counter() - began
