"""Engines: the plugins that turn one piece of text into audio.

An engine is a subclass of :class:`Engine`, registered under a name either in
the ``narrator.engines`` entry-point group of its package::

    [project.entry-points."narrator.engines"]
    myengine = "my_package.engine:MyEngine"

or at run time with :func:`register_engine`.  The built-in engines register
through the same entry-point group; they are also known by module path, so a
source checkout works without being installed.  An engine's module is only
imported when a voice needs it, so heavy dependencies (torch) stay out of
everything else.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np

from ..errors import EngineError, OptionError
from ..voices import Voice

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "narrator.engines"

DEVICES = ("auto", "cpu", "cuda")
"""Values of the ``device`` option."""

_BUILTIN = {
    "piper": "narrator.engines.piper:PiperEngine",
}
_INSTALL_HINTS = {
    "coqui": 'install it with: pip install "narrator[coqui]"',
}
_registered: dict[str, type[Engine]] = {}


class Engine(ABC):
    """A loaded voice model that speaks one sentence at a time.

    Engines must not split, re-normalize or pad the text they are given, and
    must return the model's raw level: narrator does all of that itself.
    """

    name: ClassVar[str]
    """The name presets use in their ``engine`` key."""

    sample_rate: int
    """Samples per second of the audio :meth:`synthesize` returns."""

    max_chars: int | None = None
    """The longest text the model takes in one call, or None for no limit."""

    @classmethod
    @abstractmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> Engine:
        """Load *voice*'s model on *device* (``auto``, ``cpu`` or ``cuda``)."""

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """Speak *text*: mono float32 samples in [-1, 1] at :attr:`sample_rate`."""

    def describe(self) -> dict[str, Any]:
        """Facts about the loaded model that change how it sounds (for logs and caches)."""
        return {"engine": self.name, "sample_rate": self.sample_rate}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model's resources."""


def register_engine(name: str, engine: type[Engine]) -> None:
    """Make *engine* available under *name* for this process."""
    _registered[name] = engine


def unregister_engine(name: str) -> None:
    _registered.pop(name, None)


def available_engines() -> list[str]:
    """Names of every engine narrator can find (registered, installed or built in)."""
    names = set(_registered) | set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as *name*."""
    if name in _registered:
        return _registered[name]
    target: Any = None
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        target = ep
        break
    try:
        if target is not None:
            cls = target.load()
        elif name in _BUILTIN:
            module, _, attr = _BUILTIN[name].partition(":")
            cls = getattr(importlib.import_module(module), attr)
        else:
            hint = _INSTALL_HINTS.get(name)
            known = ", ".join(available_engines())
            raise EngineError(
                f"unknown engine {name!r}" + (f"; {hint}" if hint else f"; known engines: {known}")
            )
    except ImportError as exc:
        hint = _INSTALL_HINTS.get(name, f"reinstall the package that provides the {name} engine")
        raise EngineError(f"the {name} engine cannot be imported ({exc}); {hint}") from None
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise EngineError(f"engine {name!r} does not provide a narrator Engine class")
    return cls


def load_engine(voice: Voice, *, device: str = "auto") -> Engine:
    """Load the engine and model that *voice* names."""
    if device not in DEVICES:
        raise OptionError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    engine = engine_class(voice.engine).load(voice, device=device)
    logger.info("loaded voice %s with the %s engine", voice.name, voice.engine)
    return engine
