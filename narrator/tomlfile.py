"""Reading the TOML files users write (voice presets, lexicons), with errors that say
which file and what is wrong with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import NarratorError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(
    path: Path, error: type[NarratorError], *, missing: str, unreadable: str
) -> dict[str, Any]:
    """The table in the TOML file *path*; *error* (one line naming the file) when it is
    *missing*, *unreadable* or not valid TOML."""
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: {unreadable} ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None
