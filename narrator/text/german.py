"""German rules: what a German reader says for abbreviations, money, times and dates.

Each rule is a top-level function with its pattern beside it; :func:`german_rules`
lists them in the order they run, before the generic number rules of
:mod:`narrator.text.normalize` (which read what is left: "3. Mai", "1.500", "12 %").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .numbers import Numbers

Handler = Callable[[re.Match[str]], "str | None"]
Rule = tuple["re.Pattern[str]", Handler, "str | None", bool]

ABBREVIATIONS = {
    "z. B.": "zum Beispiel", "d. h.": "das heißt", "u. a.": "unter anderem",
    "z. T.": "zum Teil", "u. U.": "unter Umständen", "o. Ä.": "oder Ähnliches",
    "usw.": "und so weiter", "bzw.": "beziehungsweise", "ca.": "circa", "vgl.": "vergleiche",
    "etc.": "et cetera", "evtl.": "eventuell", "ggf.": "gegebenenfalls", "inkl.": "inklusive",
    "exkl.": "exklusive", "sog.": "sogenannte", "Nr.": "Nummer", "Dr.": "Doktor",
    "Prof.": "Professor", "Hr.": "Herr", "Str.": "Straße", "Jh.": "Jahrhundert",
    "Tel.": "Telefon", "Abb.": "Abbildung", "Kap.": "Kapitel", "ff.": "folgende",
    "f.": "folgende",
}  # fmt: skip
"""German abbreviations and what is said for them.  Two-letter ones ("z. B.") match with or
without the space ("z.B.").  "f." is only read after a page number ("S. 12 f.")."""

_BEFORE_NUMBER = {"S.": "Seite", "Bd.": "Band", "Abs.": "Absatz", "Nr.": "Nummer"}
"""Abbreviations read only before a number ("S. 12"): elsewhere they are other words."""


def _abbreviation_pattern() -> re.Pattern[str]:
    forms = []
    for written in sorted(ABBREVIATIONS, key=len, reverse=True):
        if written == "f.":
            continue
        parts = [re.escape(p) for p in written.split(" ")]
        forms.append(r"\s?".join(parts))
    return re.compile(r"(?<![\w.])(?:" + "|".join(forms) + r")(?!\w)|(?<=\d )f\.(?!\w)")


_ABBREVIATION = _abbreviation_pattern()
_KEYS = {re.sub(r"\s", "", k): v for k, v in ABBREVIATIONS.items()}
_AT_END = re.compile(r"[\"'”’»)\]]*\s*$")


def say_abbreviation(match: re.Match[str]) -> str:
    """ "z. B." -> "zum Beispiel"; a period that also ends the sentence stays."""
    said = _KEYS[re.sub(r"\s", "", match.group(0))]
    return said + "." if _AT_END.match(match.string, match.end()) else said


_FRAU = re.compile(r"(?<![\w.])Fr\.(?= [A-ZÄÖÜ])")
"""Fr. before a name is Frau (elsewhere it may be Freitag)."""

_NUMBERED = re.compile(r"(?<![\w.])(S|Bd|Abs|Nr)\.(?= ?\d)")


_WEEKDAYS = {"Mo": "Montag", "Di": "Dienstag", "Mi": "Mittwoch", "Do": "Donnerstag",
             "Fr": "Freitag", "Sa": "Samstag", "So": "Sonntag"}  # fmt: skip
_WEEKDAY = re.compile(r"(?<![\w.])(Mo|Di|Mi|Do|Fr|Sa|So)\.(?=,? (?:den|dem|\d))")
"""A weekday before a date: "Mo., dem 12.03.", "Fr. 3. Mai" (elsewhere "So." is a word)."""


def say_numbered(match: re.Match[str]) -> str:
    """ "S. 12" -> "Seite 12"."""
    return _BEFORE_NUMBER[match.group(0)[:-1] + "."]


_MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
    "Oktober", "November", "Dezember",
)  # fmt: skip

DATIVE_WORDS = frozenset({"am", "im", "vom", "zum", "beim", "dem", "den", "zur", "des", "seit",
                          "ab", "bis", "einem", "einen", "jeden", "jedem"})  # fmt: skip
"""Words after which an ordinal takes -n: "am dritten Mai", "bis zum zweiten"."""

_WORD_BEFORE = re.compile(r"(\w+)\W*$")


def _inflect(ordinal: str, match: re.Match[str]) -> str:
    """*ordinal* ("dritte") with -n after a dative word before *match*."""
    before = _WORD_BEFORE.search(match.string, 0, match.start())
    if before and before.group(1).lower() in DATIVE_WORDS and ordinal.endswith("e"):
        return ordinal + "n"
    return ordinal


_NUMERIC_DATE = re.compile(
    r"(?<![\d.,])(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])\.(\d{4})(?!\d|[.,]\d)"
)
"""A date written 12.03.2025."""


def numeric_date(numbers: Numbers) -> Handler:
    def say(match: re.Match[str]) -> str:
        day, month, year = (int(g) for g in match.groups())
        ordinal = _inflect(numbers.ordinal(day), match)
        return f"{ordinal} {_MONTHS[month - 1]} {numbers.year(year)}"

    return say


_TIME = re.compile(r"(?<![\d.,:])([01]?\d|2[0-3])[:.]([0-5]\d)(?:\s?(Uhr)\b|(?![\d.,:]))")
"""A time: "14:30", "14:30 Uhr", "16.45 Uhr" (with a period, only before "Uhr")."""


def _hour(numbers: Numbers, hour: int) -> str:
    said = numbers.cardinal(hour)
    return "ein" if said == "eins" else said  # "ein Uhr"


def time_of_day(numbers: Numbers) -> Handler:
    def say(match: re.Match[str]) -> str | None:
        hour, minute, uhr = match.groups()
        if uhr is None and ":" not in match.group(0):
            return None  # 16.45 without Uhr: a number, not a time
        said = f"{_hour(numbers, int(hour))} Uhr"
        return f"{said} {numbers.cardinal(int(minute))}" if int(minute) else said

    return say


_ONE_OCLOCK = re.compile(r"(?<![\d.,])(0?1)(?= ?Uhr\b)")


_CURRENCIES = {"€": "Euro", "EUR": "Euro", "Euro": "Euro", "$": "Dollar", "USD": "Dollar",
               "£": "Pfund", "GBP": "Pfund", "CHF": "Franken"}  # fmt: skip
_AMOUNT = r"(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{2}|-{1,2}|–))?"
_MONEY_AFTER = re.compile(rf"(?<![\w.,])([-−])?{_AMOUNT}\s?(€|EUR\b|Euro\b|\$|USD\b|£|GBP\b|CHF\b)")
_MONEY_BEFORE = re.compile(rf"([-−])?(€|\$|£|EUR|USD|GBP|CHF)\s?{_AMOUNT}(?![\d,]|\.\d)")
"""An amount of money: "12,50 €", "12,50 EUR", "€ 12,50", "$20", "12,- €"."""


def money(numbers: Numbers) -> Handler:
    def say(match: re.Match[str]) -> str:
        groups = match.groups()
        if match.re is _MONEY_BEFORE:
            minus, sign, whole, cents = groups
        else:
            minus, whole, cents, sign = groups
        unit = _CURRENCIES[sign]
        digits = whole.replace(".", "")
        amount = numbers.integer(digits)
        if amount == "eins":
            amount = "ein"
        said = f"{amount} {unit}"
        if cents and cents.isdigit() and int(cents):
            said += f" {numbers.cardinal(int(cents))}"
        return numbers.negative(said) if minus else said

    return say


_UNITS = {
    "km/h": "Kilometer pro Stunde", "kg": "Kilogramm", "km": "Kilometer", "cm": "Zentimeter",
    "mm": "Millimeter", "ml": "Milliliter", "m²": "Quadratmeter", "m³": "Kubikmeter",
    "m": "Meter", "g": "Gramm", "l": "Liter", "°C": "Grad Celsius", "kWh": "Kilowattstunden",
    "MB": "Megabyte", "GB": "Gigabyte",
}  # fmt: skip
"""Units read after a number: "2,3 kg" -> "2,3 Kilogramm"."""
_UNIT = re.compile(
    r"(?<=\d)( ?)("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?![\w/²³])"
)


def say_unit(match: re.Match[str]) -> str:
    return " " + _UNITS[match.group(2)]


def german_rules(numbers: Numbers) -> list[Rule]:
    """The German rules, in the order they run (before the generic number rules)."""
    rules: list[Rule] = [
        (_FRAU, lambda m: "Frau", "F", False),
        (_NUMBERED, say_numbered, ".", True),
        (_WEEKDAY, lambda m: _WEEKDAYS[m.group(1)], ".", False),
        (_ABBREVIATION, say_abbreviation, ".", False),
    ]
    if not numbers.available:
        return rules
    say_money = money(numbers)
    rules += [
        (_NUMERIC_DATE, numeric_date(numbers), ".", True),
        (_MONEY_AFTER, say_money, None, True),
        (_MONEY_BEFORE, say_money, None, True),
        (_TIME, time_of_day(numbers), None, True),
        (_ONE_OCLOCK, lambda m: "ein", None, True),
        (_UNIT, say_unit, None, True),
    ]
    return rules
