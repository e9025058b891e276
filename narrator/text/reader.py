"""Reading input text: bytes in, clean Unicode out, or one clear error."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

from ..errors import InputError

STDIN = "-"
"""The input name that means standard input."""

_BINARY_SNIFF_BYTES = 8192
"""How much of the input is checked for NUL bytes and other signs of binary data."""

_MAX_CONTROL_RATIO = 0.05
"""Inputs whose sniffed part has more C0 control bytes than this are treated as binary."""


def read_text(source: str | Path) -> str:
    """Read a text file (or standard input for ``"-"``) and decode it.

    UTF-8 is expected, with or without a byte-order mark; UTF-16 with a BOM
    is accepted too.  Binary data and text in another encoding raise
    :class:`InputError`, as does an input with nothing to read.
    """
    name = "standard input" if str(source) == STDIN else str(source)
    try:
        data = sys.stdin.buffer.read() if str(source) == STDIN else Path(source).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a text file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    text = decode_text(data, name)
    if not text.strip():
        raise InputError(f"{name}: is empty; there is nothing to narrate")
    return text


def decode_text(data: bytes, name: str = "input") -> str:
    """Decode *data* as UTF-8 (or BOM-marked UTF-16), refusing binary data.

    Line ends come back as ``"\\n"`` whatever the input used.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _unix_newlines(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: is not valid UTF-16 text ({exc.reason})") from None
    if _looks_binary(data[:_BINARY_SNIFF_BYTES]):
        raise InputError(f"{name}: looks like a binary file, not text; give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: is not UTF-8 text (bad byte at offset {exc.start}); "
            "convert it, for example with: iconv -f latin1 -t utf-8"
        ) from None
    return _unix_newlines(text)


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    if not head:
        return False
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(head) > _MAX_CONTROL_RATIO
