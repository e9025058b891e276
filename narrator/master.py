"""The old name of :mod:`narrator.mastering.whole`, kept so that existing imports (and
patches) of ``narrator.master`` reach the same module."""

import sys

from .mastering import whole

sys.modules[__name__] = whole
