"""Segments -> clips: the engine, the clip cache, and worker processes.

Clips come out in the order of the segments whatever the number of jobs, and
each one is stored in the cache as soon as it is made, so an interrupted run
loses at most the clips that were being synthesized.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from .cache import ClipCache, clip_key
from .engines import SHARED_ENV, THREADS_ENV, Engine, engine_threads, load_engine
from .errors import OptionError
from .voices import Voice

logger = logging.getLogger(__name__)

MAX_JOBS = 64


@dataclass
class SynthesisStats:
    """What synthesis did."""

    synthesized: int = 0
    """Clips made by the engine."""

    cache_hits: int = 0
    """Clips taken from the cache."""

    engine_seconds: float = 0.0
    """Time spent in the engine (summed over workers)."""


class Synthesizer:
    """Speaks lists of text chunks with one voice, through the cache and *jobs* workers."""

    def __init__(
        self,
        voice: Voice,
        *,
        device: str = "auto",
        engine: Engine | None = None,
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
        self._own_engine = engine is None
        self.threads = engine_threads()
        self.engine = engine if engine is not None else load_engine(voice, device=device)
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
        if self.jobs == 1:
            for chunks in chunked:
                yield [self._clip(text) for text in chunks]
            return
        yield from self._parallel(chunked)

    def _batched(self, chunked: Sequence[Sequence[str]]) -> Iterator[list[np.ndarray]]:
        """Segments in order, the uncached chunks spoken :attr:`Engine.batch_size` at a time."""
        size = self.engine.batch_size
        held: list[list[np.ndarray | None]] = []
        wanted: list[tuple[int, int, str]] = []  # (segment in held, chunk, text)
        for chunks in [*chunked, None]:
            if chunks is not None:
                entry: list[np.ndarray | None] = []
                for text in chunks:
                    cached = self._cached(text)
                    if cached is None:
                        wanted.append((len(held), len(entry), text))
                    entry.append(cached)
                held.append(entry)
                if len(wanted) < size:
                    if wanted:
                        continue
                    yield from ([clip for clip in e if clip is not None] for e in held)
                    held.clear()
                    continue
            began = time.perf_counter()
            clips = self.engine.synthesize_batch([text for _, _, text in wanted]) if wanted else []
            self.stats.engine_seconds += time.perf_counter() - began
            for (segment, index, text), clip in zip(wanted, clips, strict=True):
                clip = np.asarray(clip, dtype=np.float32)
                self.stats.synthesized += 1
                if self.cache is not None:
                    self.cache.put(clip_key(text, self._identity), clip)
                held[segment][index] = clip
            yield from ([clip for clip in e if clip is not None] for e in held)
            held.clear()
            wanted.clear()

    def _cached(self, text: str) -> np.ndarray | None:
        if self.cache is None:
            return None
        cached = self.cache.get(clip_key(text, self._identity))
        if cached is not None:
            self.stats.cache_hits += 1
        return cached

    def _clip(self, text: str) -> np.ndarray:
        key = clip_key(text, self._identity) if self.cache is not None else ""
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
                return cached
        began = time.perf_counter()
        clip = np.asarray(self.engine.synthesize(text), dtype=np.float32)
        self.stats.engine_seconds += time.perf_counter() - began
        self.stats.synthesized += 1
        if self.cache is not None:
            self.cache.put(key, clip)
        return clip

    def _parallel(self, chunked: Sequence[Sequence[str]]) -> Iterator[list[np.ndarray]]:
        context = get_context("spawn")
        window = 2 * self.jobs
        with ProcessPoolExecutor(
            self.jobs, mp_context=context, initializer=_worker_init,
            initargs=(type(self.engine), self.voice, self.device, self.threads),
        ) as pool:  # fmt: skip
            pending: deque[list[Future[tuple[np.ndarray, float]] | np.ndarray]] = deque()
            keys: deque[list[str]] = deque()
            items = iter(chunked)
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    chunks = next(items, None)
                    if chunks is None:
                        exhausted = True
                        break
                    entry: list[Future[tuple[np.ndarray, float]] | np.ndarray] = []
                    entry_keys = []
                    for text in chunks:
                        key = clip_key(text, self._identity) if self.cache is not None else ""
                        cached = self.cache.get(key) if self.cache is not None else None
                        if cached is not None:
                            self.stats.cache_hits += 1
                            entry.append(cached)
                        else:
                            entry.append(pool.submit(_worker_synthesize, text))
                        entry_keys.append(key)
                    pending.append(entry)
                    keys.append(entry_keys)
                if not pending:
                    return
                entry, entry_keys = pending.popleft(), keys.popleft()
                clips = []
                for item, key in zip(entry, entry_keys, strict=True):
                    if isinstance(item, np.ndarray):
                        clips.append(item)
                        continue
                    clip, seconds = item.result()
                    self.stats.synthesized += 1
                    self.stats.engine_seconds += seconds
                    if self.cache is not None:
                        self.cache.put(key, clip)
                    clips.append(clip)
                yield clips

    def close(self) -> None:
        if self._own_engine:
            self.engine.close()


_worker_engine: Engine | None = None


def _worker_init(engine: type[Engine], voice: Voice, device: str, threads: int) -> None:
    global _worker_engine
    os.environ[THREADS_ENV] = str(threads)
    os.environ[SHARED_ENV] = "1"
    logging.getLogger().setLevel(logging.WARNING)
    _worker_engine = engine.load(voice, device=device)


def _worker_synthesize(text: str) -> tuple[np.ndarray, float]:
    assert _worker_engine is not None
    began = time.perf_counter()
    clip = np.asarray(_worker_engine.synthesize(text), dtype=np.float32)
    return clip, time.perf_counter() - began
