"""Numbers as words, with num2words, in the language of the voice."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from num2words import CONVERTER_CLASSES, num2words

_ALIASES = {"nb": "no", "nn": "no", "kk": "kz", "zh": "", "ja": "", "iw": "he"}
"""Voice language codes whose num2words name differs ("" for none).  Chinese and Japanese
keep their digits: written without spaces ("3月5日"), a number is read with the counter
after it, which the engine's own front end knows and num2words does not."""

_COMMONWEALTH = frozenset({"GB", "UK", "AU", "NZ", "IE", "ZA", "IN", "NG", "SG"})
"""English regions that say "one hundred and one" (and spell "metre")."""

_MAX_DIGITS = 15
"""Longer digit strings are read digit by digit."""

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def num2words_language(language: str) -> str | None:
    """The num2words language for a voice language code (``en_US`` -> ``en``), or None."""
    parts = re.split(r"[-_]", language.strip())
    base = parts[0].lower()
    region = parts[1].upper() if len(parts) > 1 else ""
    if f"{base}_{region}" in CONVERTER_CLASSES:
        return f"{base}_{region}"
    base = _ALIASES.get(base, base)
    return base if base in CONVERTER_CLASSES else None


class Numbers:
    """Spells numbers in one language; every method returns words without commas."""

    def __init__(self, language: str = "en") -> None:
        parts = re.split(r"[-_]", language.strip())
        self.base = parts[0].lower() or "en"
        self.region = parts[1].upper() if len(parts) > 1 else ""
        self.lang = num2words_language(language)
        self.english = self.base == "en"
        self.british = self.english and self.region in _COMMONWEALTH

    @property
    def available(self) -> bool:
        """Whether num2words speaks this language (else digits are left to the engine)."""
        return self.lang is not None

    def _say(self, value: int | Decimal, to: str = "cardinal") -> str | None:
        if self.lang is None:
            return None
        try:
            words = _num2words(value, self.lang, to)
        except (NotImplementedError, OverflowError, ValueError, TypeError, KeyError,
                IndexError, InvalidOperation, ArithmeticError):  # fmt: skip
            return None
        words = words.replace(",", "")
        if self.english and not self.british:
            words = re.sub(r"\band ", "", words)
        return " ".join(words.split())

    def cardinal(self, value: int) -> str:
        """12 -> "twelve"; very long numbers are read digit by digit."""
        if len(str(abs(value))) > _MAX_DIGITS:
            return ("minus " if value < 0 else "") + self.digits(str(abs(value)))
        return self._say(value) or str(value)

    def ordinal(self, value: int) -> str:
        """3 -> "third"."""
        return self._say(value, "ordinal") or str(value)

    def year(self, value: int) -> str:
        """1984 -> "nineteen eighty-four" (where the language reads years so)."""
        if self.lang in ("en", "de", "nl", "da", "no") or self.english:
            return self._say(value, "year") or self.cardinal(value)
        return self.cardinal(value)

    def digits(self, text: str, zero: str = "zero") -> str:
        """Each digit as a word: "007" -> "zero zero seven" (elsewhere: each digit's cardinal)."""
        words = []
        for char in text:
            if not char.isdigit():
                continue
            if self.english:
                words.append(zero if char == "0" else _DIGITS[int(char)])
            else:
                words.append(self.cardinal(int(char)))
        return " ".join(words)

    def decimal(self, whole: str, fraction: str) -> str:
        """("3", "14") -> "three point one four"; *whole* may be empty (".5")."""
        if self.english:
            head = self.cardinal(int(whole)) + " " if whole else ""
            return f"{head}point {self.digits(fraction)}"
        said = self._say(Decimal(f"{whole or 0}.{fraction}"))
        return said or f"{whole},{fraction}"

    def negative(self, said: str) -> str:
        """*said* (a number in words) with the language's word for minus before it."""
        minus = self._say(-1)
        one = self._say(1)
        if minus and one and minus.endswith(one):
            return minus[: -len(one)].strip() + " " + said
        return "minus " + said

    def integer(self, text: str) -> str:
        """An integer as written ("3,497", "007", "42") in words."""
        plain = re.sub(r"[^\d]", "", text)
        if not plain:
            return text
        if len(plain) > 1 and plain.startswith("0"):
            return self.digits(plain)
        return self.cardinal(int(plain))


@lru_cache(maxsize=4096)
def _num2words(value: int | Decimal, lang: str, to: str) -> str:
    result: str = num2words(value, lang=lang, to=to)
    return result
