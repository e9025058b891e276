"""The store of finished pieces: each mastered piece's encoded audio and measurement,
on disk in the cache's ``pieces`` folder (or a temporary one), checked when read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cache import write_atomically
from ..errors import OutputError

logger = logging.getLogger("narrator.pieces")  # (the name it has always logged under)


@dataclass(frozen=True)
class Measured:
    """What one piece contributes to the measurement of the whole file."""

    first_step: int
    """Index of the first 100 ms step the piece touches."""

    sums: np.ndarray
    """Sum of squared K-weighted samples in each step it touches."""

    peak: float
    """Linear true peak of the piece."""

    source: tuple[int, np.ndarray] = (0, np.zeros(0))
    """(first step, sums) of what went into the encoder: with them the level change
    that the codec makes is known."""


_MAGIC = b"NRP1"
_HEADER = struct.Struct(">4sI")
_DIGEST = 32


class PieceStore:
    """Finished pieces on disk: the cache's ``pieces`` folder, or a temporary one.

    The folder may vanish while a narration runs (``narrator cache --clear``): it is
    made again for the next piece, a piece that still cannot be stored there goes to
    a temporary folder, and a piece that has gone by the time the file is joined is
    made again (see :meth:`PieceMaster.finish`).
    """

    def __init__(self, directory: Path | None) -> None:
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()
        self._folders: list[Path] = []
        """Where pieces are looked for; new ones go to the last."""
        if directory is not None:
            try:
                directory.mkdir(parents=True, exist_ok=True)
                tempfile.TemporaryFile(dir=directory).close()
                self._folders.append(directory)
            except OSError as exc:
                self._warn(directory, exc)
        if not self._folders:
            self._fall_back()

    @property
    def directory(self) -> Path:
        """Where new pieces are stored."""
        return self._folders[-1]

    def _fall_back(self) -> Path:
        """Store new pieces in a temporary folder (made once) from now on."""
        with self._lock:
            if self._temporary is None:
                self._temporary = tempfile.TemporaryDirectory(prefix="narrator-pieces-")
                self._folders.append(Path(self._temporary.name))
            return self.directory

    @staticmethod
    def _warn(directory: Path, exc: OSError) -> None:
        logger.warning("cannot keep mastered pieces in %s (%s); they are made in a "
                       "temporary folder", directory, exc.strerror or exc)  # fmt: skip

    @staticmethod
    def _path(folder: Path, key: str) -> Path:
        return folder / key[:2] / f"{key}.piece"

    def _read(self, key: str) -> tuple[Measured, bytes] | None:
        """(measurement, encoded audio) of the piece stored under *key*, or None (a
        damaged entry is removed)."""
        for folder in reversed(self._folders):
            path = self._path(folder, key)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            try:
                magic, size = _HEADER.unpack_from(data)
                meta = data[_HEADER.size : _HEADER.size + size]
                digest = data[_HEADER.size + size : _HEADER.size + size + _DIGEST]
                body = data[_HEADER.size + size + _DIGEST :]
                if magic != _MAGIC or hashlib.sha256(meta + body).digest() != digest:
                    raise ValueError("checksum")
                fields = json.loads(meta)
                source = (fields["source_first"],
                          np.asarray(fields["source_sums"], dtype=np.float64))  # fmt: skip
                sums = np.asarray(fields["sums"], dtype=np.float64)
                return Measured(fields["first"], sums, fields["peak"], source), body
            except (ValueError, KeyError, struct.error):
                logger.warning("damaged cache entry %s: removed, the piece will be made again",
                               path)  # fmt: skip
                with contextlib.suppress(OSError):
                    path.unlink()
        return None

    def get(self, key: str) -> Measured | None:
        """The measurement of the piece stored under *key*, or None (a damaged entry
        is removed)."""
        found = self._read(key)
        return found[0] if found is not None else None

    def payload(self, key: str) -> bytes | None:
        """The encoded audio of the piece stored under *key*, checked, or None."""
        found = self._read(key)
        return found[1] if found is not None else None

    def put(self, key: str, payload: bytes, measured: Measured) -> None:
        meta = json.dumps({
            "first": measured.first_step, "sums": measured.sums.tolist(), "peak": measured.peak,
            "source_first": measured.source[0], "source_sums": measured.source[1].tolist(),
        }).encode()  # fmt: skip
        data = _HEADER.pack(_MAGIC, len(meta)) + meta + hashlib.sha256(meta + payload).digest()
        folder = self.directory
        # The folder is made again if it went; a second try covers a clear that removed
        # it between making it and writing into it.
        for _attempt in range(2):
            try:
                write_atomically(self._path(folder, key), data + payload)
                return
            except OSError as exc:
                error = exc
        if self._temporary is None:
            self._warn(folder, error)
            folder = self._fall_back()
            try:
                write_atomically(self._path(folder, key), data + payload)
                return
            except OSError as exc:
                error = exc
        raise OutputError(f"cannot store a mastered piece in {folder}: "
                          f"{error.strerror or error}") from None  # fmt: skip

    def gains(self, content: str) -> list[tuple[float, float]]:
        """(gain, ceiling) pairs a piece with this *content* key was mastered at, the
        latest first."""
        try:
            pairs = json.loads(self._index(content).read_text())
            return [(float(gain), float(ceiling)) for gain, ceiling in pairs]
        except (OSError, ValueError, TypeError):
            return []

    def note(self, content: str, gain: float, ceiling: float) -> None:
        """Remember that a piece with this *content* key was mastered at *gain*."""
        pairs = [(gain, ceiling), *(p for p in self.gains(content) if p != (gain, ceiling))]
        try:
            write_atomically(self._index(content), json.dumps(pairs[:4]).encode())
        except OSError as exc:
            logger.warning("could not store a mastered piece in %s: %s", self.directory, exc)

    def _index(self, content: str) -> Path:
        return self._folders[0] / "index" / content[:2] / f"{content}.json"

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
