"""NLTK's Punkt, imported without the rest of NLTK.

``import nltk`` runs ``nltk/__init__.py``, which imports most of NLTK and, through
it, ``scipy.stats`` and scikit-learn: about a second on a small machine, for a
tool that only needs the Punkt sentence tokenizer.  This module loads
``nltk.tokenize.punkt`` and ``nltk.data`` with their parent packages as bare
namespaces, then takes those entries out of ``sys.modules`` again, so a later
``import nltk`` elsewhere in the process gets the whole, untouched package.  If
anything about that fails, the ordinary import is used.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


def _load() -> tuple[Any, Any]:
    if "nltk" in sys.modules:  # NLTK is loaded already: nothing to save
        return importlib.import_module("nltk.tokenize.punkt"), importlib.import_module("nltk.data")
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nltk is not installed")
    roots = list(spec.submodule_search_locations)
    try:
        for name, paths in (("nltk", roots), ("nltk.tokenize", [f"{r}/tokenize" for r in roots])):
            package = types.ModuleType(name)
            package.__path__ = paths
            package.__package__ = name
            package.__file__ = str(Path(paths[0]) / "__init__.py")
            sys.modules[name] = package
        return importlib.import_module("nltk.tokenize.punkt"), importlib.import_module("nltk.data")
    finally:
        for name in [n for n in sys.modules if n == "nltk" or n.startswith("nltk.")]:
            del sys.modules[name]


def _ordinary() -> tuple[Any, Any]:
    import nltk.data
    import nltk.tokenize.punkt

    return nltk.tokenize.punkt, nltk.data


try:
    punkt, data = _load()
except Exception:  # pragma: no cover - an NLTK release that the light import does not suit
    punkt, data = _ordinary()

PunktParameters = punkt.PunktParameters
PunktSentenceTokenizer = punkt.PunktSentenceTokenizer


def installed_model(language: str) -> Any | None:
    """A Punkt tokenizer from NLTK's ``punkt_tab`` data for *language*, if installed.

    The data folders are NLTK's own search path (``NLTK_DATA`` and the usual
    places); only unpacked data is looked at, as NLTK's downloader leaves it.
    """
    for root in data.path:
        folder = Path(root) / "tokenizers" / "punkt_tab" / language
        if (folder / "abbrev_types.txt").is_file():
            tokenizer = PunktSentenceTokenizer()
            tokenizer._params = punkt.load_punkt_params(data.FileSystemPathPointer(str(folder)))
            return tokenizer
    return None
