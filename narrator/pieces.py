"""The old name of :mod:`narrator.mastering.pieces`, kept so that existing imports (and
patches) of ``narrator.pieces`` reach the same module."""

import sys

from .mastering import pieces

sys.modules[__name__] = pieces
