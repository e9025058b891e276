"""The files a narration writes: checked before synthesis, committed together at the end.

Every destination (the audio, the subtitles, the chapter files) is checked when it is
added, before any audio is made: its folder exists, its name fits the file system, it
is not an input of the narration nor another destination, and narrator may replace it.
Each is then written under a *scratch* name in a private folder (mode 0700, beside
the destination so that the final rename stays on one file system; its name is tried
when the destination is added and the folder made with an exclusive ``mkdir`` only when
the audio is written, so a run killed while it synthesizes leaves nothing), where no
one else can plant a link; helper files derived
from a scratch name (the encoder's ``.chapters`` metadata, the codec's ``.excerpt``)
stay in that folder too.  :meth:`Destinations.commit` moves all of them into place
once everything is written; on failure none is, and existing files are left untouched.

What an existing destination is decides how it is written:

- a regular file is replaced by rename, keeping its permission bits (and, where the
  process may, its owner); a read-only one is refused;
- a symbolic link is followed: the file it points to is replaced and the link kept
  (a dangling link, or one another user planted in a shared sticky folder, is refused);
- a character device (``/dev/null``) or a FIFO is written straight into, at the end;
- a folder, a block device or a socket is refused.

Scratch names carry this machine and the process id (``.narrator-HOST-PID-...part``):
what a killed run leaves behind is removed by the next run that writes to the same
folder, once that process is gone (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .errors import OptionError, OutputError

logger = logging.getLogger(__name__)

SCRATCH_SUFFIX = ".part"
"""How every scratch name narrator makes ends."""

NAME_MAX = 255
"""Bytes a file name may have where the file system does not say (it is 255 on Linux's)."""

FULL_BELOW = 1 << 20
"""Bytes free under which a file system counts as full, when a write error does not say
which file it is about."""

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

_SCRATCH = re.compile(r"\.narrator-([0-9a-f]{6})-([0-9]+)-.*\.part\Z", re.DOTALL)


def _host() -> str:
    """A short tag of this machine, so that a folder shared over the network is only
    cleaned of what runs on this machine left."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def scratch_prefix() -> str:
    """The start of a scratch name owned by this process: ``.narrator-HOST-PID-``."""
    return f".narrator-{_host()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process, alive
        return True
    return True


def remove_stale(folder: Path) -> int:
    """Remove the scratch files and folders in *folder* whose process is gone.

    Only names made by :func:`scratch_prefix` on this machine, owned by this user, are
    touched; a process id that is alive again (reused) keeps its files.  Returns how
    many were removed.
    """
    removed = 0
    host, uid = _host(), os.geteuid()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = _SCRATCH.match(entry.name)
        if match is None or match[1] != host or _alive(int(match[2])):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_uid != uid:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        logger.info("removed %s, left by a narration that was killed", entry.path)
        removed += 1
    return removed


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX


def _same(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


@dataclass
class _Planned:
    path: Path
    """The destination as it was given."""
    what: str
    """What it is, for messages: "output", "subtitles", "chapter file"."""
    target: Path
    """The file that is replaced or written into (a link followed)."""
    info: os.stat_result | None
    """The target as it was found, or None when it does not exist yet."""
    scratch: Path
    """Where it is written first."""

    @property
    def stream(self) -> bool:
        """Whether the target is a character device or a FIFO, written into at the end."""
        return self.info is not None and not stat.S_ISREG(self.info.st_mode)


class Destinations:
    """The set of files a narration writes.

    ``add()`` each one before synthesizing, call ``ready()`` before writing the scratch
    paths it returns, then ``commit()``; leaving the ``with`` block without committing
    removes every scratch file and leaves the destinations as they were.
    """

    def __init__(self) -> None:
        self._inputs: list[tuple[Path, str, os.stat_result | None]] = []
        self._planned: list[_Planned] = []
        self._folders: dict[Path, Path] = {}  # destination folder -> private scratch folder
        self._added = 0
        self._made: set[Path] = set()  # the scratch folders made so far (see ready())

    def __enter__(self) -> Destinations:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()

    def protect(self, path: str | Path, what: str = "input") -> None:
        """*path* is read by the narration: no destination may be the same file."""
        path = Path(path)
        self._inputs.append((path, what, _stat(path)))
        for planned in self._planned:
            self._check_apart(planned.path, planned.what, planned.target, planned.info)

    def add(self, path: str | Path, what: str = "output") -> Path:
        """Check that *path* can be written and return the scratch path to write it at."""
        path = Path(path)
        target, info = self._resolve(path)
        self._check_apart(path, what, target, info)
        if info is not None and not stat.S_ISREG(info.st_mode):
            folder = self._scratch_folder(Path(tempfile.gettempdir()), path)
        else:
            folder = self._scratch_folder(target.parent, path)
        suffix = target.suffix if len(target.suffix) <= 16 else ""
        scratch = folder / f"{self._added}{suffix}"
        self._added += 1
        self._planned.append(_Planned(path, what, target, info, scratch))
        return scratch

    def is_stream(self, scratch: Path) -> bool:
        """Whether the destination written at *scratch* is a device or a FIFO."""
        return any(p.stream for p in self._planned if p.scratch == scratch)

    def drop(self, scratch: Path) -> None:
        """Forget the destination written at *scratch* (it is not wanted after all)."""
        self._planned = [p for p in self._planned if p.scratch != scratch]
        scratch.unlink(missing_ok=True)

    def commit(self) -> None:
        """Move every destination into place: devices and FIFOs are written into first
        (the only step that may still fail for want of room), then the files renamed."""
        for planned in self._planned:
            if not planned.scratch.exists():
                raise OutputError(f"{planned.path}: was not written")
        for planned in self._planned:
            if planned.stream:
                self._write_into(planned)
        for planned in self._planned:
            if not planned.stream:
                self._rename(planned)
        self._planned.clear()
        self.discard()

    def ready(self) -> None:
        """Make the private scratch folders, just before the first file is written.

        ``mkdir`` never follows a link and fails on any name that is taken, so a folder
        made here is this process's own, mode 0700, whatever else is in that folder.
        """
        for folder in self._folders.values():
            if folder in self._made:
                continue
            try:
                os.mkdir(folder, 0o700)
            except OSError as exc:
                raise OutputError(
                    f"{folder}: cannot make narrator's scratch folder ({exc.strerror or exc})"
                ) from None
            self._made.add(folder)

    def discard(self) -> None:
        """Remove every scratch file; the destinations stay as they were."""
        for folder in self._made:
            shutil.rmtree(folder, ignore_errors=True)
        self._made.clear()
        self._folders.clear()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Turn a failure to write a scratch file (a full disk, say) into one OutputError."""
        try:
            yield
        except OutputError:
            raise
        except (OSError, RuntimeError) as exc:
            planned = self._blame(exc)
            if planned is None:
                raise
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise OutputError(f"{planned.path}: cannot write it: {reason}") from None

    # -- checks

    def _resolve(self, path: Path) -> tuple[Path, os.stat_result | None]:
        """The file *path* stands for (a link followed), and what is there now."""
        try:
            info = path.lstat()
        except FileNotFoundError:
            info = None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                self._check_length(path, path)
            raise OutputError(f"{path}: cannot write there ({exc.strerror or exc})") from None
        target = path
        if info is not None and stat.S_ISLNK(info.st_mode):
            pointed = _stat(path)
            target = Path(os.path.realpath(path))
            self._check_link(path, info, target, pointed)
            info = pointed
            if pointed is not None and not stat.S_ISREG(pointed.st_mode):
                target = path  # /dev/stdout -> /proc/self/fd/1 -> pipe:[...]: opened as given
        folder = target.parent if str(target.parent) else Path(".")
        if info is None:
            if not folder.is_dir():
                raise OutputError(f"{path}: the folder {folder} does not exist")
        elif stat.S_ISDIR(info.st_mode):
            raise OutputError(f"{path}: is a directory; give a file name such as story.mp3")
        elif stat.S_ISREG(info.st_mode):
            if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
                raise OutputError(
                    f"{path}: is read-only; narrator does not replace a read-only file "
                    "(make it writable, for example with chmod u+w, or choose another name)"
                )
        elif not (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
            kind = "a block device" if stat.S_ISBLK(info.st_mode) else "a socket"
            raise OutputError(
                f"{path}: is {kind}; narrator writes regular files, character devices "
                "(such as /dev/null) and FIFOs"
            )
        self._check_length(path, target)
        return target, info

    @staticmethod
    def _check_length(path: Path, target: Path) -> None:
        folder = target.parent if str(target.parent) else Path(".")
        size, most = len(os.fsencode(target.name)), _name_max(folder)
        if size > most:
            raise OutputError(
                f"{path}: the file name is {size} bytes long; the file system takes at most {most}"
            )

    @staticmethod
    def _check_link(
        path: Path, info: os.stat_result, target: Path, pointed: os.stat_result | None
    ) -> None:
        if pointed is None:
            raise OutputError(
                f"{path}: is a link to {target}, which does not exist; narrator follows "
                "links only to existing files"
            )
        # Linux's fs.protected_symlinks rule: in a sticky folder anyone may write to, a
        # link is followed only when it belongs to us or to the folder's owner.
        folder = path.parent if str(path.parent) else Path(".")
        with contextlib.suppress(OSError):
            parent = folder.stat()
            shared = parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH
            if shared and info.st_uid not in (os.geteuid(), parent.st_uid):
                raise OutputError(
                    f"{path}: is a link another user made in a shared folder; narrator "
                    "does not write through it"
                )

    def _check_apart(
        self, path: Path, what: str, target: Path, info: os.stat_result | None
    ) -> None:
        """Refuse a destination that is an input or another destination."""
        where = Path(os.path.realpath(target))
        others = [(p, w, i) for p, w, i in self._inputs]
        others += [(p.path, p.what, p.info) for p in self._planned if p.path is not path]
        for other, other_what, other_info in others:
            devices = (info, other_info)
            if all(i is not None and stat.S_ISCHR(i.st_mode) for i in devices):
                continue  # /dev/null may take the audio and the subtitles alike
            if _same(info, other_info) or where == Path(os.path.realpath(other)):
                raise OptionError(
                    f"the {what} {path} is the same file as the {other_what} {other}; "
                    f"choose another name for the {what}"
                )

    def _scratch_folder(self, folder: Path, path: Path) -> Path:
        """A name for a private folder in *folder*, which is tried (made and removed) now
        and made for good by :meth:`ready`: a run killed while it synthesizes leaves
        nothing beside the output."""
        folder = folder if str(folder) else Path(".")
        if folder not in self._folders:
            remove_stale(folder)
            try:
                made = tempfile.mkdtemp(prefix=scratch_prefix(), suffix=SCRATCH_SUFFIX, dir=folder)
                os.rmdir(made)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write there ({exc.strerror or exc})") from None
            self._folders[folder] = Path(made)
        return self._folders[folder]

    def _blame(self, exc: BaseException) -> _Planned | None:
        """The destination a write error is about, if it is about one."""
        names = [getattr(exc, "filename", None), getattr(exc, "filename2", None)]
        for planned in self._planned:
            folder = str(planned.scratch.parent)
            if any(isinstance(n, str) and n.startswith(folder) for n in names):
                return planned
        if not (isinstance(exc, OSError) and exc.errno in _FULL):
            return None
        for planned in self._planned:  # an error that names no file: whose disk is full?
            with contextlib.suppress(OSError):
                room = os.statvfs(planned.scratch.parent)
                if room.f_bavail * room.f_frsize < FULL_BELOW:
                    return planned
        raise OutputError(
            f"cannot write: {exc.strerror} (on the output's disk, the cache's or the "
            "temporary folder's)"
        ) from None

    # -- committing

    @staticmethod
    def _write_into(planned: _Planned) -> None:
        flags = os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(planned.target, flags)
            with open(fd, "wb") as out, open(planned.scratch, "rb") as source:
                if stat.S_ISREG(os.fstat(out.fileno()).st_mode):
                    raise OutputError(f"{planned.path}: became a regular file while narrating")
                shutil.copyfileobj(source, out, 1 << 16)
        except OSError as exc:
            raise OutputError(f"{planned.path}: cannot write it: {exc.strerror or exc}") from None

    @staticmethod
    def _rename(planned: _Planned) -> None:
        try:
            if planned.info is not None:
                mode = stat.S_IMODE(planned.info.st_mode) & 0o777
                os.chmod(planned.scratch, mode)
                if (planned.info.st_uid, planned.info.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):
                        os.chown(planned.scratch, planned.info.st_uid, planned.info.st_gid)
            os.replace(planned.scratch, planned.target)
        except OSError as exc:
            raise OutputError(f"{planned.path}: cannot write it: {exc.strerror or exc}") from None
