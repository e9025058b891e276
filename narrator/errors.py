"""The exceptions narrator raises, with messages written for the person reading them.

Each class carries the process exit code the command line uses for it:

====  =====================================================
code  meaning
====  =====================================================
0     success (also when every file is complete and only a message or the
      ``--json`` summary met a closed pipe or stream)
1     narration failed (engine, model, output); ``narrator batch``: any book
      failed (each is reported on its own line)
2     bad usage: an option value, a missing or unreadable input, an output
      that is an input or another output
3     unknown voice or a broken voice preset
130   interrupted (Ctrl-C)
141   the reader of the audio on standard output went away before it was
      all written
====  =====================================================
"""

from __future__ import annotations


class NarratorError(Exception):
    """Base class: the message says what went wrong and how to fix it."""

    exit_code = 1


class InputError(NarratorError):
    """The text to narrate is missing, empty, binary or not UTF-8."""

    exit_code = 2


class OptionError(NarratorError):
    """A rendering or engine option has a value narrator cannot use."""

    exit_code = 2


class VoiceError(NarratorError):
    """A voice preset is unknown or malformed."""

    exit_code = 3


class EngineError(NarratorError):
    """An engine could not be loaded or failed to synthesize."""


class ModelNotFoundError(EngineError):
    """A voice model is not on disk (and could not be downloaded)."""


class OutputError(NarratorError):
    """The output could not be written or encoded."""
