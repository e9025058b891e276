"""``narrator serve``: an OpenAI-compatible speech server (the ``server`` extra).

``POST /v1/audio/speech`` speaks a text with a voice preset and streams the audio as it
is made; ``/v1/narrations`` narrates long texts as jobs kept on disk; ``GET /v1/models``
and ``GET /v1/audio/voices`` list what is installed.  Needs starlette and uvicorn
(``pip install "narrator-tts[server]"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any

from ..errors import NarratorError

logger = logging.getLogger(__name__)

__all__ = ["Settings", "create_app", "run"]

INSTALL_HINT = 'install it with: pip install "narrator-tts[server]"'


def _require() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise NarratorError(f"the server needs {exc.name}; {INSTALL_HINT}") from None


def __getattr__(name: str) -> Any:
    if name in ("Settings", "create_app"):
        _require()
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'narrator.server' has no attribute {name!r}")


MALLOC_ARENAS = 2
"""glibc malloc arenas the server process keeps (its default is 8 per core).  Each request
synthesizes on a thread of its own: 400 requests of heart, 8 at a time, left the server at
532 MiB with 16 arenas and at 342 MiB with 2, and were no slower (benchmarks/bench_server.py,
docs/benchmarks.md)."""

_M_ARENA_MAX = -8
"""mallopt(3)'s parameter number for the arena limit."""


def _limit_malloc_arenas() -> None:
    """Apply :data:`MALLOC_ARENAS` where the C library is glibc (elsewhere: nothing)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def run(settings: Any, *, log_level: str = "info", access_log: bool = False) -> None:
    """Serve until SIGTERM or Ctrl-C, then finish the requests in flight (at most
    :data:`~narrator.server.app.DRAIN_SECONDS`) and return.  Unfinished narration jobs
    stay on disk and resume when the server starts again."""
    _require()
    import uvicorn

    _limit_malloc_arenas()  # the server's process is this one: a process-wide setting

    from .app import DRAIN_SECONDS, create_app

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Drain, then return normally (uvicorn would raise the signal again at the end).
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port, log_level=log_level,
        access_log=access_log, timeout_graceful_shutdown=DRAIN_SECONDS, lifespan="on",
        server_header=False,
    )  # fmt: skip
    sock = listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    logger.info("serving on http://%s:%d (Ctrl-C or SIGTERM stops it)", shown, port)
    Server(config).run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on *host*:*port* (0: a free port); :class:`NarratorError` when
    the address is taken or not this machine's."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise NarratorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise NarratorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
