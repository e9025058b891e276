"""Loaded engines kept between requests: a bounded LRU of voices, shared safely."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..engines import Engine, concurrent_calls, engine_threads, load_engine
from ..voices import Voice

logger = logging.getLogger(__name__)


class Turns:
    """At most *calls* holders at once, the others served in the order they came (a
    :class:`threading.Semaphore` is not fair: a request that just spoke a sentence would
    take the engine again before the requests waiting, and they would get their first
    audio only when it has finished)."""

    def __init__(self, calls: int) -> None:
        self._free = calls
        self._waiting: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # the holder that releases hands its place over

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


class SharedEngine(Engine):
    """A loaded engine that requests on several threads use at once: at most as many
    calls run together as the engine allows (one, unless it is :attr:`Engine.concurrent`),
    the others wait their turn, first come first served, so that every request's next
    sentence comes in its turn.  Closing it is the pool's business."""

    name = "shared"

    def __init__(self, engine: Engine) -> None:
        self.inner = engine
        self.name = engine.name  # type: ignore[misc]
        self.sample_rate = engine.sample_rate
        self.max_chars = engine.max_chars
        self.batch_size = engine.batch_size
        self.concurrent = False  # each request synthesizes one sentence at a time
        calls = concurrent_calls(engine_threads(True)) if engine.concurrent else 1
        self._turns = Turns(calls)

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> SharedEngine:
        return cls(load_engine(voice, device=device))

    def synthesize(self, text: str) -> np.ndarray:
        with self._turns:
            return self.inner.synthesize(text)

    def synthesize_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        with self._turns:
            return self.inner.synthesize_batch(texts)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()  # the same cache keys as a narration of the CLI

    def close(self) -> None:
        """Nothing: the pool closes the engine (see :meth:`EnginePool.close`)."""


class _Entry:
    def __init__(self) -> None:
        self.ready = threading.Event()
        self.engine: SharedEngine | None = None
        self.error: BaseException | None = None
        self.users = 0
        self.evicted = False


class EnginePool:
    """At most *size* idle voices stay loaded, the least recently used closed first; an
    engine in use when it is evicted is closed when its last request ends.  A voice is
    loaded once however many requests ask for it at the same time."""

    def __init__(self, size: int, device: str = "auto") -> None:
        self.size = max(1, size)
        self.device = device
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        """Engines loaded so far (for tests and the benchmark)."""

    @staticmethod
    def key(voice: Voice) -> str:
        return json.dumps(voice.sound_identity(), sort_keys=True, default=str)

    @contextmanager
    def engine(self, voice: Voice) -> Iterator[SharedEngine]:
        """The loaded engine of *voice*, for the time of the block."""
        key = self.key(voice)
        with self._lock:
            entry = self._entries.get(key)
            loading = entry is None
            if entry is None:
                entry = self._entries[key] = _Entry()
            self._entries.move_to_end(key)
            entry.users += 1
        try:
            if loading:
                try:
                    entry.engine = SharedEngine(load_engine(voice, device=self.device))
                    self.loads += 1
                except BaseException as exc:
                    entry.error = exc
                    with self._lock:
                        if self._entries.get(key) is entry:
                            del self._entries[key]
                    raise
                finally:
                    entry.ready.set()
                self._evict()
            entry.ready.wait()
            if entry.error is not None:
                raise entry.error
            assert entry.engine is not None
            yield entry.engine
        finally:
            with self._lock:
                entry.users -= 1
                close = entry.evicted and entry.users == 0
            if close:
                self._close(entry)

    def _evict(self) -> None:
        """Drop the least recently used voices beyond :attr:`size`."""
        closing = []
        with self._lock:
            while len(self._entries) > self.size:
                key, entry = next(iter(self._entries.items()))
                if not entry.ready.is_set():
                    break
                del self._entries[key]
                entry.evicted = True
                if entry.users == 0:
                    closing.append(entry)
        for entry in closing:
            self._close(entry)

    def loaded(self) -> int:
        """Voices loaded now."""
        with self._lock:
            return len(self._entries)

    @staticmethod
    def _close(entry: _Entry) -> None:
        if entry.engine is not None:
            logger.info("closing the %s engine", entry.engine.name)
            entry.engine.inner.close()

    def close(self) -> None:
        """Close every engine not in use (and those in use as their requests end)."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            for entry in entries:
                entry.evicted = True
            idle = [entry for entry in entries if entry.users == 0]
        for entry in idle:
            self._close(entry)
