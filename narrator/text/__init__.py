"""The text front-end: reading, structure and sentence splitting."""

from .reader import STDIN, decode_text, read_text
from .segments import Kind, Segment, blocks, split_text
from .sentences import SentenceSplitter, base_language

__all__ = [
    "STDIN", "Kind", "Segment", "SentenceSplitter", "base_language", "blocks", "decode_text",
    "read_text", "split_text",
]  # fmt: skip
