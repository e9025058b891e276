"""narrator: narrate text into audiobook-quality audio with local neural voices.

import narrator
narrator.narrate(open("story.txt").read(), "story.mp3", voice="joe")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

DISTRIBUTION = "narrator-tts"
"""narrator's name on PyPI, for ``pip install`` and :mod:`importlib.metadata` (the import
package and the command are ``narrator``; the ``narrator`` on PyPI is an unrelated project)."""

__all__ = [
    "AudioFormat", "Engine", "Narration", "NarratorError", "Rendering", "Segment", "Voice",
    "detect_language", "list_voices", "load_voice", "narrate", "narrate_many", "register_engine",
    "split_text", "stream", "stream_bytes",
]  # fmt: skip

if TYPE_CHECKING:
    from .batch import narrate_many
    from .engines import Engine, register_engine
    from .errors import NarratorError
    from .language import detect_language
    from .pipeline import Narration, narrate
    from .rendering import AudioFormat, Rendering
    from .streaming import stream, stream_bytes
    from .text import Segment, split_text
    from .voices import Voice, list_voices, load_voice

_LAZY = {
    "Engine": "engines", "register_engine": "engines", "NarratorError": "errors",
    "Narration": "pipeline", "narrate": "pipeline", "AudioFormat": "rendering",
    "Rendering": "rendering", "Segment": "text", "split_text": "text", "Voice": "voices",
    "list_voices": "voices", "load_voice": "voices", "detect_language": "language",
    "narrate_many": "batch", "stream": "streaming", "stream_bytes": "streaming",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import the public API lazily, so ``narrator --help`` stays fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'narrator' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
