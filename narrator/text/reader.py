"""Reading input text: bytes in, clean Unicode out, or one clear error.

An input is opened once and read once, block by block, so that standard input,
a pipe, a FIFO or a process substitution (``<(...)``) is read exactly as a file
is, and an endless input (``/dev/zero``, ``yes |``) ends in an error instead of
filling the memory: binary data is refused after its first few kilobytes, and
text is read up to :data:`MAX_INPUT_BYTES` (raised with ``--max-input-size`` or
``NARRATOR_MAX_INPUT``).
"""

from __future__ import annotations

import codecs
import re
import sys
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import InputError, OptionError

STDIN = "-"
"""The input name that means standard input."""

MAX_INPUT_BYTES = 64 * 2**20
"""The largest input read by default, in bytes: 64 MiB, some fifty novels of text,
and within what a narration of one file can sensibly hold.  More is an error
rather than memory filling up; ``--max-input-size`` (or the environment variable
:data:`MAX_INPUT_ENV`) raises it."""

MAX_INPUT_ENV = "NARRATOR_MAX_INPUT"
"""The environment variable the command line takes ``--max-input-size`` from."""

_READ_BLOCK = 2**20
"""Bytes asked of the input at a time."""

_BINARY_SNIFF_BYTES = 8192
"""How much of the input is checked for NUL bytes and other signs of binary data."""

_MAX_CONTROL_RATIO = 0.05
"""Inputs whose sniffed part has more C0 control bytes than this are treated as binary."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str | int) -> int:
    """Bytes from a size such as ``"64M"``, ``"200MiB"``, ``"1.5G"`` or ``"100000"``.

    The suffixes K, M, G, T count in powers of 1024, with or without ``iB``/``B``.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        match = _SIZE.match(str(text))
        if match is None:
            raise OptionError(f"{text!r} is not a size; give bytes, or a number with K, M or G")
        size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size < 1:
        raise OptionError(f"{text!r}: the size must be at least one byte")
    return size


class TextInput:
    """An input opened but not read yet: a file, a pipe, or standard input.

    Opening checks what can be checked without reading (the file exists, is not a
    folder, standard input is open), so that a command can fail early and still
    read a stream only once, later, with :meth:`read`.
    """

    def __init__(self, source: str | Path) -> None:
        self.name = "standard input" if str(source) == STDIN else str(source)
        """The input as messages name it."""
        self.source = source
        """The input as it was given (a path, or ``"-"``)."""
        self._owned = str(source) != STDIN
        try:
            if self._owned:
                self._stream: BinaryIO = open(source, "rb")  # noqa: SIM115 (closed by close())
            elif sys.stdin is None:  # started with standard input closed (<&-)
                raise InputError("standard input is closed; give a file, or pipe text in")
            else:
                self._stream = sys.stdin.buffer
        except FileNotFoundError:
            raise InputError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{self.name}: is a directory, not a text file") from None
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read it ({exc.strerror or exc})") from None

    def read(self, max_bytes: int = MAX_INPUT_BYTES) -> str:
        """The whole input, decoded (see :func:`decode_text`); at most *max_bytes* of it.

        Raises :class:`InputError` for binary data, text in another encoding, an
        input larger than *max_bytes*, and an input with nothing to read.
        """
        data = bytearray()
        try:
            while True:
                block = self._stream.read(min(_READ_BLOCK, max_bytes + 1 - len(data)))
                if not block:
                    break
                data += block
                if len(data) > max_bytes:
                    raise InputError(
                        f"{self.name}: is larger than {_size(max_bytes)}; if it really is "
                        f"text to narrate, raise the limit with --max-input-size (or "
                        f"{MAX_INPUT_ENV})"
                    )
                if len(data) - len(block) < _BINARY_SNIFF_BYTES <= len(data):
                    _refuse_binary(data, self.name)  # before an endless stream of NULs fills memory
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read it ({exc.strerror or exc})") from None
        except ValueError:  # the stream was closed
            raise InputError(f"{self.name}: cannot read it (it is closed)") from None
        text = decode_text(data, self.name)
        if not text.strip():
            raise InputError(f"{self.name}: is empty; there is nothing to narrate")
        return text

    @property
    def stream(self) -> BinaryIO:
        """The open binary stream, for a reader of a binary format (an EPUB, a PDF)."""
        return self._stream

    def close(self) -> None:
        """Close the file (standard input is left open)."""
        if self._owned:
            self._stream.close()

    def __enter__(self) -> TextInput:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_input(source: str | Path) -> TextInput:
    """Open a text file (or standard input for ``"-"``) to read it later, once."""
    return TextInput(source)


def read_text(source: str | Path, *, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """Read a text file (or standard input for ``"-"``) and decode it.

    UTF-8 is expected, with or without a byte-order mark; UTF-16 with a BOM
    is accepted too.  Binary data, text in another encoding and input over
    *max_bytes* raise :class:`InputError`, as does an input with nothing to read.
    """
    with open_input(source) as opened:
        return opened.read(max_bytes)


def decode_text(data: bytes | bytearray, name: str = "input") -> str:
    """Decode *data* as UTF-8 (or BOM-marked UTF-16), refusing binary data.

    Line ends come back as ``"\\n"`` whatever the input used.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _unix_newlines(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: is not valid UTF-16 text ({exc.reason})") from None
    _refuse_binary(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: is not UTF-8 text (bad byte at offset {exc.start}); "
            "convert it, for example with: iconv -f latin1 -t utf-8"
        ) from None
    return _unix_newlines(text)


def _refuse_binary(data: bytes | bytearray, name: str) -> None:
    """Raise when the start of *data* looks like binary data (UTF-16 has its own check)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    if _looks_binary(bytes(data[:_BINARY_SNIFF_BYTES])):
        raise InputError(f"{name}: looks like a binary file, not text; give a UTF-8 text file")


def _size(count: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count:,} bytes"


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    if not head:
        return False
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(head) > _MAX_CONTROL_RATIO
