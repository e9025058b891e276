"""One download of a voice file, the same for every engine that downloads (Piper, hibari,
Kokoro): streamed into a scratch file beside its target, checked, renamed into place.

What every such download promises: a file cut short (fewer bytes than the engine's registry
or the server's ``Content-Length`` says), or one whose SHA-256 is not the recorded one, is
one clear error and is not kept; what a killed download left in the folder is removed the
next time; a failure of the network is one error line too, never a traceback; nothing but a
whole, checked file ever gets the target's name.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from ..destinations import SCRATCH_SUFFIX, remove_stale, scratch_prefix
from ..errors import ModelNotFoundError
from . import NETWORK_TIMEOUT

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
"""Bytes read and written at a time."""


def scratch_beside(target: Path) -> tuple[int, str]:
    """A new scratch file (descriptor, name) in *target*'s folder, made if need be, once
    what killed runs left there is removed; to be renamed onto *target* when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target.parent)
    return tempfile.mkstemp(prefix=scratch_prefix(), suffix=SCRATCH_SUFFIX, dir=target.parent)


def fetch(
    url: str,
    target: Path,
    *,
    what: str,
    hint: str,
    size: int | None = None,
    sha256: str | None = None,
    sha256_source: str = "the recorded one",
) -> Path:
    """Download *url* into *target* and return it.

    *what* names the file in messages ("hibari voice kore"), *hint* says what to do after a
    failure.  The file must have *size* bytes (when None: what the server announced in
    ``Content-Length``, when it did) and, when *sha256* is given, that digest (*sha256_source*
    says whose it is).  Any failure raises :class:`ModelNotFoundError` with the one line
    ``cannot download WHAT from URL: WHY; HINT`` and leaves nothing behind.
    """
    failed = f"cannot download {what} from {url}"
    try:
        fd, scratch = scratch_beside(target)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot download {what} into {target.parent}: {exc}") from None
    try:
        digest, got = hashlib.sha256(), 0
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT) as answer,
        ):
            expected = size
            if expected is None and answer.headers.get("Content-Length", "").isdigit():
                expected = int(answer.headers["Content-Length"])
            while chunk := answer.read(CHUNK):
                got += len(chunk)
                if expected is not None and got > expected:
                    break  # a server that sends more than it should: not read to the end
                digest.update(chunk)
                out.write(chunk)
        if expected is not None and got != expected:
            said = f"longer than {expected:,} bytes" if got > expected else f"{got:,} bytes"
            cut = "" if got > expected else " (cut short)"
            raise ModelNotFoundError(f"{failed}: it is {said}, not {expected:,}{cut}; {hint}")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ModelNotFoundError(f"{failed}: it has SHA-256 {digest.hexdigest()}, not "
                                     f"{sha256}, {sha256_source}; {hint}")  # fmt: skip
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except (OSError, http.client.HTTPException) as exc:  # urllib's errors are OSErrors
        reason = str(exc) or type(exc).__name__
        raise ModelNotFoundError(f"{failed}: {reason}; {hint}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
    logger.debug("downloaded %s into %s", what, target)  # the engine says it, once a voice
    return target
