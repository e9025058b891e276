"""The text front-end: reading, structure, sentences, normalization, lexicons, chunks, audit."""

from .audit import Omission, audit
from .chunks import chunk
from .lexicon import Lexicon, LexiconError, load_lexicon
from .normalize import Normalizer, normalize
from .reader import (
    MAX_INPUT_BYTES,
    STDIN,
    TextInput,
    decode_text,
    open_input,
    parse_size,
    read_text,
)
from .segments import Kind, Script, Segment, prepare, split_text
from .sentences import SentenceSplitter, base_language

__all__ = [
    "MAX_INPUT_BYTES", "STDIN", "Kind", "Lexicon", "LexiconError", "Normalizer", "Omission",
    "Script", "Segment", "SentenceSplitter", "TextInput", "audit", "base_language", "chunk",
    "decode_text", "load_lexicon", "normalize", "open_input", "parse_size", "prepare",
    "read_text", "split_text",
]  # fmt: skip
