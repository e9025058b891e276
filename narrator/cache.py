"""The clip cache: every synthesized segment kept on disk, keyed by all that changes its sound.

A narration that is interrupted (Ctrl-C, ``kill -9``, a crash) resumes where it
stopped, and one whose text was edited only synthesizes what changed.  Entries
are written atomically and carry a checksum, so a damaged entry is detected,
deleted and made again, never played.

The cache lives in ``$NARRATOR_CACHE_DIR``, or by default in the user cache
folder (``$XDG_CACHE_HOME/narrator``, usually ``~/.cache/narrator``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from .errors import NarratorError

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "NARRATOR_CACHE_DIR"
FORMAT_VERSION = 1
"""Bumped whenever what a cached clip means changes."""

_MAGIC = b"NRC1"
_DIGEST = 32


def cache_dir() -> Path:
    """Where cached clips live."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("narrator", appauthor=False))


def clip_key(text: str, identity: dict[str, Any]) -> str:
    """The cache key of *text* spoken by the engine described by *identity*."""
    payload = json.dumps(
        {"v": FORMAT_VERSION, "text": text, "engine": identity}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write *data* to *path* so that a reader sees the old file or the whole new one,
    never a part (a temporary file beside it, renamed).

    A folder removed meanwhile (``narrator cache --clear`` while a narration runs) is
    made again, once."""
    for attempt in range(2):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _write_beside(path, data)
            return
        except FileNotFoundError:
            if attempt:
                raise


def _write_beside(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


class CacheError(NarratorError):
    """The cache folder cannot be read or cleared."""


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0


class ClipCache:
    """Synthesized clips on disk, one file per clip."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir()
        self.clips = self.directory / "clips"
        self.pieces = self.directory / "pieces"
        """Mastered pieces of narrations (see :mod:`narrator.pieces`)."""
        self.models = self.directory / "models"
        """ONNX Runtime's graphs of Piper models, optimized for this machine, and the
        length scale at which a model meets a speed (:mod:`narrator.engines.speed`)."""
        self.voices = self.directory / "voices"
        """What streams measured of each voice: its loudness (:mod:`narrator.streaming`)."""
        self.stats = CacheStats()

    def _path(self, key: str) -> Path:
        return self.clips / key[:2] / f"{key}.clip"

    def get(self, key: str) -> np.ndarray | None:
        """The clip stored under *key*, or None (a damaged entry, or one holding samples that
        are not finite numbers, is removed)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            self.stats.misses += 1
            return None
        head, digest, body = data[:4], data[4 : 4 + _DIGEST], data[4 + _DIGEST :]
        intact = head == _MAGIC and hashlib.sha256(body).digest() == digest and not len(body) % 4
        # A NaN or infinite sample (stored by an older narrator) is as damaged as a bad checksum.
        if not (intact and np.isfinite(np.frombuffer(body, dtype="<f4")).all()):
            logger.warning("damaged cache entry %s: removed, the clip will be made again", path)
            self.stats.corrupt += 1
            self.stats.misses += 1
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        self.stats.hits += 1
        return np.frombuffer(body, dtype="<f4").copy()

    def put(self, key: str, clip: np.ndarray) -> None:
        """Store *clip* under *key*, atomically; a full disk only costs the cache."""
        body = np.asarray(clip, dtype="<f4").tobytes()
        try:
            write_atomically(self._path(key), _MAGIC + hashlib.sha256(body).digest() + body)
        except OSError as exc:
            logger.warning("could not write to the clip cache in %s: %s", self.directory, exc)

    def _files(self, errors: list[OSError]) -> Iterator[Path]:
        """Every file under the clips, pieces and models folders; a folder that cannot be
        read is added to *errors* (one that does not exist is empty)."""

        def failed(exc: OSError) -> None:
            if not (isinstance(exc, FileNotFoundError) and exc.filename in tops):
                errors.append(exc)

        tops = [str(folder) for folder in (self.clips, self.pieces, self.models, self.voices)]
        for top in tops:
            for folder, _, names in os.walk(top, onerror=failed):
                for name in names:
                    yield Path(folder, name)

    def usage(self) -> tuple[int, int]:
        """(number of clips, bytes) in the cache, mastered pieces and models included;
        :class:`CacheError` when a folder of it cannot be read."""
        count = size = 0
        errors: list[OSError] = []
        for path in self._files(errors):
            count += path.suffix == ".clip"
            with contextlib.suppress(OSError):
                size += path.stat().st_size
        if errors:
            raise CacheError(f"cannot read the cache in {self.directory}: {_reason(errors[0])}")
        return count, size

    def clear(self) -> int:
        """Delete every cached clip, mastered piece and optimized model; returns how many
        clips went.  :class:`CacheError` when anything could not be deleted (what could
        is gone)."""
        removed = 0
        errors: list[OSError] = []
        for path in list(self._files(errors)):
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # a narration running meanwhile renamed or removed it
            except OSError as exc:
                errors.append(exc)
                continue
            removed += path.suffix == ".clip"
        for folder in (self.clips, self.pieces, self.models, self.voices):
            subfolders = [walked[0] for walked in os.walk(folder)][1:]
            for sub in sorted(subfolders, reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(sub)
        if errors:
            more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
            raise CacheError(
                f"could not clear the cache in {self.directory}: {_reason(errors[0])}{more}; "
                f"{removed} clip{'s' if removed != 1 else ''} removed"
            )
        return removed


def _reason(exc: OSError) -> str:
    """*exc* in a few words: what went wrong, and with which file."""
    return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
