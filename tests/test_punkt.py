"""NLTK's Punkt is used without importing the rest of NLTK, and real punkt_tab data wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import narrator.text
from narrator.text import split_text
split_text("Dr. Smith came. He left.")
assert "nltk" not in sys.modules, "the whole of NLTK was imported"
assert "scipy" not in sys.modules, "scipy was imported"
import nltk  # the real package still loads, whole
assert hasattr(nltk, "word_tokenize") and hasattr(nltk, "FreqDist")
print("ok")
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)  # fmt: skip


def test_punkt_loads_without_the_rest_of_nltk():
    done = run(SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_installed_punkt_tab_data_is_used(tmp_path: Path):
    # A minimal punkt_tab model whose only abbreviation is "zork": with it installed,
    # "zork." no longer ends a sentence.
    model = tmp_path / "tokenizers" / "punkt_tab" / "english"
    model.mkdir(parents=True)
    (model / "abbrev_types.txt").write_text("zork\n")
    for name in ("collocations.tab", "sent_starters.txt", "ortho_context.tab"):
        (model / name).write_text("")
    code = (
        "from narrator.text.sentences import SentenceSplitter\n"
        "print(SentenceSplitter('en').split('We met the zork. Smith stayed.'))\n"
    )
    without = run(code, NLTK_DATA=str(tmp_path / "nothing"))
    installed = run(code, NLTK_DATA=str(tmp_path))
    assert without.returncode == installed.returncode == 0, without.stderr + installed.stderr
    assert without.stdout.strip() == "['We met the zork.', 'Smith stayed.']"
    assert installed.stdout.strip() == "['We met the zork. Smith stayed.']"
