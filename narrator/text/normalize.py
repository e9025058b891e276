"""Normalization: written text -> text every engine can speak, the same way.

The steps, in order, each on one sentence (or heading, or list item):

1. Unicode clean-up: control and format characters (zero-width spaces,
   bidirectional marks, soft hyphens, variation selectors) go; compatibility
   characters (ligatures, full-width letters and digits, non-breaking spaces)
   become their plain forms.
2. The pronunciation lexicon, if any (see :mod:`narrator.text.lexicon`).
3. URLs and e-mail addresses: ``https://www.example.com/news`` -> "example dot
   com slash news" (scheme, ``www.``, query and fragment are not read).
4. Abbreviations (English): titles before a name (Dr., Mr., Mrs., Prof., St. ->
   Saint), street words after one (St. -> Street, Dr. -> Drive, Ave.), Latin
   (e.g., i.e., etc., vs., cf.), "No. 5", "pp. 10-12", "a.m."; months before a day.
5. Numbers (English): phone numbers; dates (2024-05-01, Jan. 3rd, 3 January
   2024, 5/1/2024); times (9:45 a.m., 14:30); currency ($4.50, €12, £3m,
   $1.2 billion, $2.4 Billion, USD 250); powers (x^2, 10^-3); short scales (1.5M, 2bn);
   percentages; comparisons before a number (<3, n>=5); quantities with units (5 km,
   20°C, 5-10 kg, 30 s; "500 ft. and" loses the abbreviation's point); decades (1990s,
   '90s); ordinals (22nd); multiplication (4x4, 10x); versions (3.11.7, v2);
   fractions (1/2, 1 ½); ranges (1990–1995, pages 10-12); codes (ISBN
   978-3-16-148410-0); numbers inside words (B2B, mp3, COVID-19); signs (-5, +3);
   decimals; thousands (3,497); durations (6m 30s, 45s); plurals of digits (7s);
   years and plain numbers (see :func:`_is_year`).
   Other languages get cardinals, decimals and years from num2words, with the
   language's separators, where num2words knows the language; otherwise digits
   are left for the engine.
6. Roman numerals after chapter-like words (Chapter IV, World War II), after
   monarchs' names (Henry VIII -> Henry the Eighth) and alone in headings; a lone
   I there stays the pronoun before a verb or in a relative clause (the part I am
   proudest of, in part I agree).
   The letter A where espeak-ng would say the article (items A to F, Plan A).
7. Symbols: & + @ # = % ° § × ÷ ± ~ / _ and the like become words or go (a
   slash before a unit of time or a person is "per": 180 pushes/day);
   emoji, text emoticons (:-) :D) and other symbols that cannot be spoken are
   dropped and reported.
8. White space is collapsed.  Sentence punctuation stays, for prosody; an
   abbreviation's period that ends the sentence stays too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from .german import german_rules
from .lexicon import Lexicon
from .mapped import Mapped
from .markup import Dropped, drop_matches
from .numbers import Numbers

UNSPEAKABLE = "unspeakable symbol"
"""The reason given for dropped emoji and other symbols no voice can say."""

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], "str | None"], "str | None", bool]
"""(pattern, handler, needs, digits): the rule runs only on text that holds one of
the characters of *needs* (any text for None) and, when *digits* is true, a digit."""

_HAS_DIGIT = re.compile(r"\d")


def _words(text: str) -> frozenset[str]:
    """A set of words written as one string."""
    return frozenset(text.split())


def _table(text: str) -> dict[str, tuple[str, str]]:
    """``key | singular | plural`` lines -> {key: (singular, plural)}."""
    rows = (line.split("|") for line in text.strip().splitlines())
    return {key.strip(): (one.strip(), many.strip()) for key, one, many in rows}


# --- step 1: Unicode clean-up ---------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]+|[\t\n]+")
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]+"
    "|(?<!\\w)[\u200c\u200d]+|[\u200c\u200d]+(?!\\w)"
)
_NON_ASCII_RUN = re.compile(r"[A-Za-z]?[^\x00-\x7f]+")
_KEEP_AS_IS = frozenset("⁰¹²³⁴⁵⁶⁷⁸⁹½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞⅐⅑⅒℃℉™℠…")
"""Characters that compatibility normalization would change, but later rules read better."""


def _compatibility(match: re.Match[str]) -> str | None:
    text = match.group(0)
    if unicodedata.is_normalized("NFKC", text):
        return None
    out = []
    for char in unicodedata.normalize("NFC", text):
        if char in _KEEP_AS_IS or unicodedata.category(char)[0] in "SC":
            out.append(char)
        else:
            out.append(unicodedata.normalize("NFKC", char))
    result = "".join(out)
    return result if result != text else None


# --- step 7 (all languages): what cannot be spoken ------------------------------

_SILENT = frozenset("^`|\\*{}<>~•·¦¨¯´¸™®℠†‡′″‴※¤◦‣⁃")
"""Symbols dropped without a report: decoration, not content."""

_PUNCTUATION_RUN = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" (?=[,.;:!?…](?:\s|$))")


_EMOTICON = re.compile(r"(?<![\w:;])[:;][-']?[()DPp](?![\w()])")
"""A text emoticon: ``:)``, ``;-)``, ``:D``, ``:P``."""


def _drop_symbols(text: Mapped, dropped: list[Dropped] | None) -> Mapped:
    """*text* without symbols that cannot be spoken; emoji and the like are reported."""
    edits: list[tuple[int, int, str]] = []
    reported = []
    for match in _PUNCTUATION_RUN.finditer(text.text):
        run = match.group(0)
        if run.isascii() and not any(c in _SILENT for c in run):
            continue
        begin = None
        report = False
        for offset, char in enumerate(run + " "):
            keep = offset == len(run) or (
                char not in _SILENT and (unicodedata.category(char)[0] in "PM"
                                         or unicodedata.category(char) == "Zs")
            )  # fmt: skip
            if not keep and begin is None:
                begin, report = offset, False
            if not keep and char not in _SILENT:
                report = True
            if keep and begin is not None:
                span = (match.start() + begin, match.start() + offset)
                edits.append((*span, " "))
                if report:
                    reported.append(span)
                begin = None
    if dropped is not None and reported:
        for start, end in text.source_spans(reported):
            dropped.append(Dropped(start, end, UNSPEAKABLE))
    return text.edit(edits) if edits else text


@dataclass
class Normalizer:
    """Turns sentences into speakable text for one language."""

    language: str = "en"
    lexicon: Lexicon | None = None
    numbers: Numbers = field(init=False)

    def __post_init__(self) -> None:
        self.numbers = Numbers(self.language)
        self.english = self.numbers.english
        self._rules: list[Rule] = (
            _english_rules(self.numbers) if self.english else _generic_rules(self.numbers)
        )

    def __call__(self, text: Mapped, *, heading: bool = False,
                 dropped: list[Dropped] | None = None) -> Mapped:  # fmt: skip
        """*text* made speakable; what cannot be spoken is added to *dropped*."""
        text = text.sub(_CONTROL, " ").sub(_INVISIBLE, "")
        if not text.text.isascii():
            text = text.sub(_NON_ASCII_RUN, _compatibility)
        if self.lexicon:
            text = self.lexicon.apply(text)
        if not text.text.isascii():
            text = _drop_footnote_marks(text, dropped)
        if heading and self.english:
            text = _heading_case(text)
        digits = _HAS_DIGIT.search(text.text) is not None
        for pattern, handler, needs, wants_digits in self._rules:
            if wants_digits and not digits:
                continue
            if needs is not None and not any(c in text.text for c in needs):
                continue
            text = text.sub(pattern, handler)
        if heading and self.english:
            text = text.sub(_HEADING_ROMAN, lambda m: self._heading_roman(m))
        if heading:
            text = text.sub(_FIRST_LOWER, lambda m: m.group(0).upper())
        if ":" in text.text or ";" in text.text:  # reported like emoji (espeak-ng: "colon D")
            text = drop_matches(text, _EMOTICON, dropped, UNSPEAKABLE, " ")
        text = _drop_symbols(text, dropped)
        text = text.sub(_SPACES, lambda m: None if m.group(0) == " " else " ")
        return text.sub(_SPACE_BEFORE_PUNCTUATION, "").strip()

    def _heading_roman(self, match: re.Match[str]) -> str | None:
        value = roman_value(match.group(1))
        if value is None:
            return None
        return self.numbers.cardinal(value).capitalize() + match.group(2)

    def cardinal_marker(self, number: str) -> str:
        """An ordered list's "3." as it is read: "Three."."""
        if not self.numbers.available:
            return number
        return self.numbers.integer(number).capitalize() + "."


_FOOTNOTE_MARK = re.compile(
    r"(?:(?<=[^\W\d_]{3})|(?<=[.,;:!?\"”’)]))[⁰¹²³⁴⁵⁶⁷⁸⁹]+"
    r"|(?<=[^\W\d_])[⁰¹⁴⁵⁶⁷⁸⁹][⁰¹²³⁴⁵⁶⁷⁸⁹]*"
)
"""Superscript digits after a word or punctuation: a footnote's mark ("word¹", "end.²").

A ² or ³ right after a short token is a power instead: "x²", "mc²", "m²"."""
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
FOOTNOTE = "footnote mark"


def _drop_footnote_marks(text: Mapped, dropped: list[Dropped] | None) -> Mapped:
    """Footnote marks are not read (as a printed book's reader skips them); they are reported."""
    matches = [m.span() for m in _FOOTNOTE_MARK.finditer(text.text)]
    if not matches:
        return text.sub(_SUPERSCRIPT_DIGITS, lambda m: m.group(0).translate(_SUPERSCRIPTS))
    if dropped is not None:
        dropped.extend(Dropped(a, b, FOOTNOTE) for a, b in text.source_spans(matches))
    text = text.edit((a, b, "") for a, b in matches)
    return text.sub(_SUPERSCRIPT_DIGITS, lambda m: m.group(0).translate(_SUPERSCRIPTS))


_SUPERSCRIPT_DIGITS = re.compile(r"(?:^|(?<=\s))[⁰¹²³⁴⁵⁶⁷⁸⁹]+(?!\w)")


# --- shared helpers ------------------------------------------------------------

_AT_END = re.compile(r"[\"'”’»)\]]*\s*$")


def _final_period(match: re.Match[str]) -> str:
    """A period when the match ends with one that also ends the sentence, else nothing."""
    if match.group(0).endswith(".") and _AT_END.match(match.string, match.end()):
        return "."
    return ""


_ROMAN = r"(?=[MDCLXVI])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
_ROMAN_FULL = re.compile(rf"^{_ROMAN}$")
_BY_LETTER = "|".join([
    "items?", "grades?", "plans?", "types?", "class", "vitamins?", "options?", "sections?",
    "parts?", "groups?", "levels?", "rows?", "columns?", "blocks?", "buildings?", "gates?",
    "wings?", "sizes?", "cups?", "models?", "series", "exhibits?", "appendix", "figures?",
    "tables?", "schedules?", "categor(?:y|ies)", "tiers?", "letters?", "points?", "squares?",
    "platforms?", "terminals?", "hepatitis", "teams?", "sides?", "tracks?", "phases?",
    "steps?", "stages?", "zones?", "areas?", "sectors?", "units?", "wards?", "floors?",
    "versions?", "variants?", "samples?", "cases?", "scenarios?", "routes?", "lines?",
    "forms?", "company", "battery", "squad", "division", "cells?", "boxes", "box",
    "rooms?", "blood", "strains?", "list", "rank", "angle", "notes?", "keys?", "strings?",
    "pages?", "questions?", "answers?", "choices?", "candidates?",
])  # fmt: skip
"""Words after which a lone A is the letter (Plan A, type A, vitamin A, grade A)."""

_LETTER_LIKE = frozenset({"C", "D", "L", "M"})
"""Single letters that are more often letters than numerals (Class C, Type D)."""
_HEADING_ROMAN = re.compile(rf"^({_ROMAN})((?:[.:]\s.*|\.?)$)")


def roman_value(text: str) -> int | None:
    """The value of a Roman numeral ("XIV" -> 14), or None when *text* is not one."""
    if not text or not _ROMAN_FULL.match(text):
        return None
    total = 0
    for index, char in enumerate(text):
        value = _ROMAN_VALUES[char]
        following = _ROMAN_VALUES[text[index + 1]] if index + 1 < len(text) else 0
        total += -value if value < following else value
    return total


_FIRST_LOWER = re.compile(r"^\W*[^\W\d_]")
_CAPS_WORD = re.compile(r"\b[A-Z][A-Z'’]+\b")


def _heading_case(text: Mapped) -> Mapped:
    """An ALL CAPS heading in Title Case, so engines do not spell it out ("THE STORM")."""
    letters = [c for c in text.text if c.isalpha()]
    if len(letters) < 4 or not all(c.isupper() for c in letters):
        return text
    return text.sub(_CAPS_WORD, lambda m: None if roman_value(m.group(0)) else
                    m.group(0).capitalize())  # fmt: skip


# --- step 3: URLs and e-mail addresses -----------------------------------------

_TLDS = (
    "com|org|net|edu|gov|mil|int|io|co|uk|us|ca|au|nz|ie|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|"
    "pl|pt|br|jp|cn|ru|in|eu|info|biz|dev|app|ai|me|tv|ly|gg|xyz|online|site|tech|blog|news"
)
_URL_END = r"[^\s<>\"'.,;:!?)\]}’”]"
_URL = re.compile(
    rf"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']*{_URL_END}"
    rf"|(?<![\w@.-])(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})\b(?![.@-]\w)(?:/[^\s<>\"']*{_URL_END}|/)?"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_SEPARATORS = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ",
                   "~": " tilde ", "+": " plus ", "@": " at ", ":": " colon "}  # fmt: skip
_URL_WORDS = {
    "en": {}, "de": {"dot": "Punkt", "slash": "Schrägstrich", "at": "at"},
    "fr": {"dot": "point", "slash": "barre oblique", "at": "arobase"},
    "es": {"dot": "punto", "slash": "barra", "at": "arroba"},
    "it": {"dot": "punto", "slash": "barra", "at": "chiocciola"},
    "pt": {"dot": "ponto", "slash": "barra", "at": "arroba"},
    "nl": {"dot": "punt", "slash": "slash", "at": "apenstaartje"},
}  # fmt: skip


def _say_address(part: str, language: str) -> str:
    """Part of a URL or e-mail address, with its separators read out."""
    words = _URL_WORDS.get(language, {})
    out = []
    for char in part:
        name = _URL_SEPARATORS.get(char)
        if name is None:
            out.append(char if char.isalnum() else " ")
        elif name.strip() in ("dot", "slash", "at") or language == "en":
            out.append(f" {words.get(name.strip(), name.strip())} ")
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def _url_reader(language: str) -> Callable[[re.Match[str]], str]:
    def url(match: re.Match[str]) -> str:
        text = re.sub(r"^(?:(?:https?|ftp)://)?(?:www\.)?", "", match.group(0), flags=re.I)
        text = re.split(r"[?#]", text, maxsplit=1)[0].rstrip("/")
        text = re.sub(r"%[0-9A-Fa-f]{2}", " ", text)
        return _say_address(text, language) or _say_address(match.group(0), language)

    return url


def _email_reader(language: str) -> Callable[[re.Match[str]], str]:
    at = _URL_WORDS.get(language, {}).get("at", "at")

    def email(match: re.Match[str]) -> str:
        local, _, domain = match.group(0).partition("@")
        return f"{_say_address(local, language)} {at} {_say_address(domain, language)}"

    return email


# --- English ---------------------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_INT = r"\d{1,3}(?:,\d{3})+|\d+"

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]  # fmt: skip
_MONTH_ALIASES = {m.lower(): i for i, m in enumerate(_MONTHS, 1)}
_MONTH_ALIASES.update({m[:3].lower(): i for i, m in enumerate(_MONTHS, 1)})
_MONTH_ALIASES["sept"] = 9
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|" \
         r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)"  # fmt: skip

_TITLES = {
    "Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Mx": "Mix",
    "Prof": "Professor", "Rev": "Reverend", "Gen": "General", "Col": "Colonel",
    "Capt": "Captain", "Lt": "Lieutenant", "Sgt": "Sergeant", "Maj": "Major", "Adm": "Admiral",
    "Cpl": "Corporal", "Pvt": "Private", "Gov": "Governor", "Sen": "Senator",
    "Rep": "Representative", "Pres": "President", "Hon": "Honorable", "Fr": "Father",
    "Insp": "Inspector", "Det": "Detective", "Supt": "Superintendent", "Cmdr": "Commander",
    "Messrs": "Messieurs", "Mt": "Mount", "Ft": "Fort", "St": "Saint",
}  # fmt: skip
"""Abbreviations read as titles when a capitalised name follows."""

_ALWAYS_TITLES = frozenset({"Mr", "Mrs", "Ms", "Mx", "Messrs"})

_STREETS = {"St": "Street", "Dr": "Drive", "Ave": "Avenue", "Rd": "Road", "Blvd": "Boulevard",
            "Ln": "Lane", "Hwy": "Highway", "Sq": "Square", "Ct": "Court", "Pl": "Place",
            "Pkwy": "Parkway", "Ter": "Terrace"}  # fmt: skip
"""Abbreviations read as street words after a capitalised word (Main St., Elm Dr.)."""

_LATIN = {
    "e.g.": "for example", "eg.": "for example", "i.e.": "that is", "ie.": "that is",
    "etc.": "et cetera", "vs.": "versus", "vs": "versus", "cf.": "compare", "viz.": "namely",
    "a.k.a.": "also known as", "aka": "also known as", "approx.": "approximately",
    "incl.": "including", "esp.": "especially", "dept.": "department", "govt.": "government",
    "misc.": "miscellaneous", "Inc.": "Incorporated", "Ltd.": "Limited",
    "Corp.": "Corporation", "Bros.": "Brothers", "Jr.": "Junior", "Sr.": "Senior",
    "Esq.": "Esquire", "Ph.D.": "P H D", "PhD": "P H D", "a.m.": "AM", "p.m.": "PM",
    "A.M.": "AM", "P.M.": "PM", "w/o": "without", "et al.": "and others",
    # At the start of a sentence:
    "E.g.": "For example", "I.e.": "That is", "Cf.": "Compare", "Viz.": "Namely",
    "Approx.": "Approximately", "Incl.": "Including", "Esp.": "Especially",
}  # fmt: skip
"""Abbreviations read the same wherever they are."""

_BEFORE_NUMBERS = {
    "no": "number", "nos": "numbers", "p": "page", "pp": "pages", "vol": "volume",
    "vols": "volumes", "ch": "chapter", "chap": "chapter", "fig": "figure", "figs": "figures",
    "para": "paragraph", "c": "circa", "ca": "circa", "est": "established", "sec": "section",
    "art": "article", "op": "opus", "ep": "episode", "eq": "equation", "eqs": "equations",
    "n": "note", "nn": "notes",
}  # fmt: skip
"""Abbreviations read so only before a number ("No. 5", "pp. 10-12", "c. 1850")."""

_UNITS = _table("""
    km       | kilometer          | kilometers
    m        | meter              | meters
    cm       | centimeter         | centimeters
    mm       | millimeter         | millimeters
    µm       | micrometer         | micrometers
    μm       | micrometer         | micrometers
    nm       | nanometer          | nanometers
    mi       | mile               | miles
    ft       | foot               | feet
    yd       | yard               | yards
    kg       | kilogram           | kilograms
    g        | gram               | grams
    mg       | milligram          | milligrams
    µg       | microgram          | micrograms
    μg       | microgram          | micrograms
    lb       | pound              | pounds
    lbs      | pounds             | pounds
    oz       | ounce              | ounces
    L        | liter              | liters
    ml       | milliliter         | milliliters
    mL       | milliliter         | milliliters
    cl       | centiliter         | centiliters
    dl       | deciliter          | deciliters
    gal      | gallon             | gallons
    mph      | mile per hour      | miles per hour
    km/h     | kilometer per hour | kilometers per hour
    kph      | kilometer per hour | kilometers per hour
    kmh      | kilometer per hour | kilometers per hour
    m/s      | meter per second   | meters per second
    °C       | degree Celsius     | degrees Celsius
    °F       | degree Fahrenheit  | degrees Fahrenheit
    ℃        | degree Celsius     | degrees Celsius
    ℉        | degree Fahrenheit  | degrees Fahrenheit
    ºC       | degree Celsius     | degrees Celsius
    ºF       | degree Fahrenheit  | degrees Fahrenheit
    ° C      | degree Celsius     | degrees Celsius
    ° F      | degree Fahrenheit  | degrees Fahrenheit
    °        | degree             | degrees
    º        | degree             | degrees
    Hz       | hertz              | hertz
    kHz      | kilohertz          | kilohertz
    MHz      | megahertz          | megahertz
    GHz      | gigahertz          | gigahertz
    kB       | kilobyte           | kilobytes
    KB       | kilobyte           | kilobytes
    MB       | megabyte           | megabytes
    GB       | gigabyte           | gigabytes
    TB       | terabyte           | terabytes
    kbps     | kilobit per second | kilobits per second
    Mbps     | megabit per second | megabits per second
    Gbps     | gigabit per second | gigabits per second
    W        | watt               | watts
    kW       | kilowatt           | kilowatts
    MW       | megawatt           | megawatts
    GW       | gigawatt           | gigawatts
    kWh      | kilowatt hour      | kilowatt hours
    bp       | basis point        | basis points
    V        | volt               | volts
    mA       | milliamp           | milliamps
    mAh      | milliamp hour      | milliamp hours
    ms       | millisecond        | milliseconds
    s        | second             | seconds
    sec      | second             | seconds
    secs     | seconds            | seconds
    min      | minute             | minutes
    mins     | minutes            | minutes
    h        | hour               | hours
    hr       | hour               | hours
    hrs      | hours              | hours
    yr       | year               | years
    yrs      | years              | years
    ha       | hectare            | hectares
    kcal     | kilocalorie        | kilocalories
    cal      | calorie            | calories
    psi      | P S I              | P S I
    dB       | decibel            | decibels
    rpm      | R P M              | R P M
    bpm      | beat per minute    | beats per minute
    fps      | frame per second   | frames per second
    px       | pixel              | pixels
    x        | times              | times
    %        | percent            | percent
    ‰        | per mille          | per mille
    m²       | square meter       | square meters
    m2       | square meter       | square meters
    km²      | square kilometer   | square kilometers
    km2      | square kilometer   | square kilometers
    cm²      | square centimeter  | square centimeters
    ft²      | square foot        | square feet
    sq ft    | square foot        | square feet
    sq. ft.  | square foot        | square feet
    m³       | cubic meter        | cubic meters
    cm³      | cubic centimeter   | cubic centimeters
    cc       | cubic centimeter   | cubic centimeters
    percent  | percent            | percent
    per cent | percent            | percent
""")
"""Unit symbols read after a number: (singular, plural)."""

_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))

_PLAIN_LETTERS = {"Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i"}
"""Letters without a decomposition, as the plain letters they are read like."""

_PER = frozenset({
    "second", "sec", "minute", "min", "hour", "hr", "day", "night", "week", "month", "year",
    "annum", "person", "head", "capita", "user", "customer", "item", "unit", "page", "visit",
    "game", "match", "seat", "mile", "gallon", "liter", "litre", "pound", "kg",
})  # fmt: skip
"""Words after a slash that make it "per" ("180 pushes/day", "$5/person")."""
_WORD_AFTER = re.compile(r"[A-Za-z]+\b")

_CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "$": ("dollar", "dollars", "cent", "cents"), "US$": ("dollar", "dollars", "cent", "cents"),
    "C$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "A$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""), "₹": ("rupee", "rupees", "paisa", "paise"),
    "₩": ("won", "won", "", ""), "₽": ("ruble", "rubles", "kopek", "kopeks"),
    "₿": ("bitcoin", "bitcoins", "", ""), "CHF": ("Swiss franc", "Swiss francs", "centime",
    "centimes"),
    # ISO codes, before or after the amount ("USD 250", "40 GBP"):
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"), "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""), "CNY": ("yuan", "yuan", "", ""),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
}  # fmt: skip
_CURRENCY_CODES = "|".join(c for c in _CURRENCIES if c.isalpha())
_CURRENCY = "|".join(re.escape(c) for c in sorted(_CURRENCIES, key=len, reverse=True))
_SCALES = {"thousand": "thousand", "million": "million", "billion": "billion",
           "trillion": "trillion", "k": "thousand", "K": "thousand", "m": "million",
           "M": "million", "mn": "million", "bn": "billion", "b": "billion", "B": "billion",
           "tn": "trillion"}  # fmt: skip
_SCALE = "|".join(
    f"(?i:{scale})" if len(scale) > 2 else scale for scale in sorted(_SCALES, key=len, reverse=True)
)
"""A scale after an amount; the words in any case ("$2.4 Billion" in a title), the
letters as written ("2m" is millions, "2M" too, but "2 MN" is not a scale)."""


def _scale(written: str) -> str:
    return _SCALES.get(written) or _SCALES[written.lower()]


_FRACTION_CHARS = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4),
                   "⅕": (1, 5), "⅖": (2, 5), "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6),
                   "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
                   "⅐": (1, 7), "⅑": (1, 9), "⅒": (1, 10)}  # fmt: skip
_FRACTION_DENOMINATORS = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20, 32, 64, 100})

_KEYWORDS_BEFORE_ROMAN = (
    r"[Cc]hapter|CHAPTER|[Pp]art|PART|[Bb]ook|BOOK|[Vv]olume|VOLUME|[Vv]ol\.|[Aa]ct|ACT|[Ss]cene|"
    r"SCENE|[Ss]ection|[Aa]rticle|[Aa]ppendix|[Cc]anto|Psalm|Phase|Stage|Level|Episode|Season|"
    r"Series|Type|Class|Title|Schedule|Annex|Tome|War|Bowl|Round|Division|Grade|Mark|Mk\.?"
)
_MONARCHS = (
    r"Henry|Edward|George|William|Richard|James|Charles|John|Elizabeth|Mary|Anne|Victoria|"
    r"Louis|Philip|Philippe|Frederick|Friedrich|Ferdinand|Francis|Franz|Leopold|Otto|Rudolf|"
    r"Gustav|Gustavus|Carl|Karl|Christian|Henri|Pedro|Alfonso|Juan|Felipe|Sancho|Innocent|"
    r"Clement|Boniface|Urban|Paul|Pius|Sixtus|Leo|Gregory|Benedict|Alexander|Nicholas|Ivan|"
    r"Peter|Catherine|Ramesses|Ramses|Amenhotep|Thutmose|Ptolemy|Antiochus|Napoleon|Constantine|"
    r"Harald|Olaf|Magnus|Haakon|Eric|Erik|Sigismund|Casimir|Stephen|David|Robert|Malcolm|"
    r"Alexios|Manuel|Michael|Basil|Justinian|Theodosius|Wilhelm|Vittorio|Umberto|Juliana|Beatrix|"
    r"Willem|Baudouin|Albert|Rama|Selim|Suleiman|Mehmed|Murad|Ahmed|Abdul|Bayezid|Osman|Cosimo|"
    r"Lorenzo|Sebastian|Manuel|Joseph|Josef|Maximilian|Matthias|Ludwig|Conrad|Konrad|Lothair|"
    r"Pepin|Childeric|Clovis|Dagobert|Hugh|Hugo|Robert|Raymond|Baldwin|Guy|Jaime|Ramiro"
)

_PLURAL_IRREGULAR = _words(
    "people men women children feet teeth mice geese sheep fish deer persons cattle"
)
_NOT_PLURAL = _words(
    "is was has his its this us thus as yes bus gas plus less always perhaps besides across "
    "towards afterwards whereas news series species chaos ethos bias lens was does goes"
)
_YEAR_BEFORE = _words(
    "in since until till by from during before after around circa ca c year years summer "
    "winter spring autumn fall early late mid of between to through and or than about "
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_COUNT_BEFORE = _words(
    "number numbers page pages room rooms code pin flight bus route line apartment suite "
    "unit platform channel exit highway no # p pp over under nearly almost exactly only "
    "some just the"
)
_AFTER_NUMERAL_I = _words("of and or nor is has does through to")
"""Words after a lone "I" that make it a numeral: "Part I of", "Henry I and", "Act I is"
(the pronoun would say "I am", "I have", "I do")."""
_AFTER_PRONOUN_I = _words(
    "am have had do did can could will would shall should must may might think thought "
    "know knew believe guess suppose hope feel felt agree mean meant remember want wanted "
    "like liked love loved need needed said say wrote read bought saw found got "
    "never always also just still often really only"
)
"""Words after a lone "I" that make it the pronoun: "part I am", "Henry I know"."""
_DETERMINERS = _words(
    "the a an this that these those every each which what whichever any some no one another "
    "my your his her its our their first last same only other next"
)
"""Words before a noun that make "the part I liked" a relative clause: "I" the pronoun."""
_TELLING = _words(
    "tell tells told telling ask asks asked asking remind reminds reminded warn warns warned "
    "assure assures assured promise promises promised show shows showed shown inform informs "
    "informed write writes wrote text texted email emailed convince convinced persuade "
    "persuaded teach taught bet guarantee guaranteed let lets"
)
"""Verbs before a name that make a clause start after it: "I told Paul I was late"."""
_YEAR_AFTER = re.compile(r"\s*(?:AD|A\.D\.|BC|B\.C\.|BCE|B\.C\.E\.|CE|C\.E\.)(?!\w)")
_NEXT_WORD = re.compile(r"\s+([^\W\d_][\w'’-]*)")
_PREVIOUS_WORD = re.compile(r"(\w[\w.]*|#)\s*$")


def _lone_i_is_pronoun(match: re.Match[str], keyword: int, *, name: bool = False) -> bool:
    """Whether a lone "I" after the word in group *keyword* of *match* ("part I", "Henry I")
    is the pronoun rather than the numeral one.

    The word after it decides first: "of", "and", "is" make a numeral ("Part I of",
    "Henry I and"), "am", "think", "liked" the pronoun ("the part I am proudest of").
    No lower-case word after it (an end, a comma, a capital) is the numeral.  Else a
    word in lower case before it ("in part I agree", "chapter I mean") or a
    determiner before that word ("the Volume I bought") makes a relative clause: the
    pronoun.  After a capitalized keyword, it is the numeral ("World War I ended").
    After a monarch's name (*name*) the numeral too ("Charles I was beheaded", "Henry I
    died"): a name and "I" the pronoun meet without a comma only in a relative clause,
    after a determiner ("the Henry I knew") or as the object of a verb of telling ("I
    told Paul I was late").
    """
    following = _NEXT_WORD.match(match.string, match.end())
    if following is None or not following.group(1)[:1].islower():
        return False
    word = following.group(1).lower()
    if word in _AFTER_NUMERAL_I:
        return False
    if word in _AFTER_PRONOUN_I or (match.group(keyword)[:1].islower() and not name):
        return True
    previous = _PREVIOUS_WORD.search(match.string, 0, match.start(keyword))
    if previous is None:
        return False
    word = previous.group(1)
    return word.lower() in _DETERMINERS or (name and word in _TELLING)


def _comparison(sign: str) -> str:
    said = " less than " if sign[0] == "<" else " greater than "
    return said + ("or equal to " if sign.endswith("=") else "")


def _is_year(match: re.Match[str], digits: str) -> bool:
    """Whether a bare four-digit number is read as a year.

    Only 1000-2099 can be a year.  Then, in order: "AD"/"BC" after it, or a
    word such as "in", "since", "by", "during", a month or a season before it,
    makes it a year; "number", "page", "room", "over", "the" and the like
    before it make it a count, and so does a value below 1100 ("1066" is a year
    only after "in" and the like); so does a plural noun after it ("1984
    people", "1500 meters"), or "of" ("1500 of them").  Anything else is a year
    ("1984 was", "born 1984.", "1984" alone).
    """
    value = int(digits)
    if not 1000 <= value <= 2099:
        return False
    text = match.string
    if _YEAR_AFTER.match(text, match.end()):
        return True
    previous = _PREVIOUS_WORD.search(text, 0, match.start())
    before = previous.group(1).lower().rstrip(".") if previous else ""
    if before in _YEAR_BEFORE:
        return True
    if before in _COUNT_BEFORE or value < 1100:
        return False
    following = _NEXT_WORD.match(text, match.end())
    if following:
        word = following.group(1)
        lower = word.lower()
        if word[0].islower() and (
            lower in _PLURAL_IRREGULAR or lower == "of" or lower in ("more", "additional",
            "other", "new", "extra")
            or (lower.endswith("s") and len(lower) > 3 and lower not in _NOT_PLURAL
                and not lower.endswith("ss"))
        ):  # fmt: skip
            return False
    return True


def _english_rules(numbers: Numbers) -> list[Rule]:
    """The English rules, in the order they apply."""
    n = numbers
    british = numbers.british

    def metric(words: str) -> str:
        if british:
            return words.replace("meter", "metre").replace("liter", "litre")
        return words

    def number(text: str) -> str:
        """A written number ("3,497", "3.5", ".5", "007") in words."""
        whole, _, fraction = text.partition(".")
        if fraction:
            return n.decimal(whole.replace(",", ""), fraction)
        return n.integer(whole)

    def is_one(text: str) -> bool:
        return text.replace(",", "") in ("1", "01")

    def year_words(digits: str) -> str:
        return n.year(int(digits))

    rules: list[Rule] = []

    def rule(
        pattern: str, flags: int = 0, needs: str | None = None, digits: bool = True
    ) -> Callable[[Callable[[re.Match[str]], str | None]], None]:
        def add(handler: Callable[[re.Match[str]], str | None]) -> None:
            rules.append((re.compile(pattern, flags), handler, needs, digits))

        return add

    # URLs and e-mail addresses.
    rules.append((_EMAIL, _email_reader("en"), "@", False))
    rules.append((_URL, _url_reader("en"), "./", False))

    # A letter with a diacritic standing alone (Ó Briain, à deux): espeak-ng spells it
    # out ("O acute"), so it is read as its plain letter.
    @rule(r"(?<![\w'’.-])[^\W\d_A-Za-z](?![\w'’.-])", digits=False)
    def _lone_accented_letter(m: re.Match[str]) -> str | None:
        letter = m.group(0)
        if letter == "à" or ord(letter) > 0x24F:
            return None  # "à la carte": espeak-ng says it; beyond Latin Extended-B: as written
        plain = unicodedata.normalize("NFD", letter)[0]
        if plain.isascii() and plain.isalpha():
            return plain
        return _PLAIN_LETTERS.get(letter)

    # A comparison before a number, written tight or not ("tool<3", "n>=5", "<3 percent"),
    # before the number is read.
    @rule(r"(?<![^\w\s])[<>]=?(?=\s?[-−]?\.?\d)", needs="<>")
    def _compare_number(m: re.Match[str]) -> str:
        return _comparison(m.group(0))

    # Powers written with a caret: x^2, 10^-3.
    @rule(r"(?<=[\w)])\^([-−]?\d+)(?![\w.,]\d|\w)", needs="^")
    def _power(m: re.Match[str]) -> str:
        power = m.group(1).replace("−", "-")
        if power == "2":
            return " squared"
        if power == "3":
            return " cubed"
        sign = "minus " if power[0] == "-" else ""
        return f" to the power of {sign}{n.integer(power.lstrip('-'))}"

    # Abbreviations.
    @rule(r"(?<!\w)#(?=\s?\d)|(?<!\w)~(?=\s?\d)", needs="#~")
    def _number_sign(m: re.Match[str]) -> str:
        return "about " if m.group(0) == "~" else "number "

    @rule(r"(?<![\w.])(" + "|".join(_BEFORE_NUMBERS) + r")\.(?=\s?\(?\d)", re.IGNORECASE, needs=".")
    def _before_number(m: re.Match[str]) -> str:
        word = _BEFORE_NUMBERS[m.group(1).lower()]
        return word.capitalize() if _starts_sentence(m) else word

    @rule(r"(?<![\w.])(" + "|".join(_TITLES) + r")\.(?=\s+[A-Z])"
          r"|(?<![\w.])(" + "|".join(_ALWAYS_TITLES) + r")\."
          r"|(?<![\w.])(Mr|Mrs|Ms|Dr|St)(?=\s+[A-Z])", digits=False)  # fmt: skip
    def _title(m: re.Match[str]) -> str:
        return _TITLES[m.group(1) or m.group(2) or m.group(3)]

    @rule(r"(?<=[A-Za-z0-9] )(" + "|".join(_STREETS) + r")\.", needs=".", digits=False)
    def _street(m: re.Match[str]) -> str | None:
        previous = _PREVIOUS_WORD.search(m.string, 0, m.start())
        if previous is None or not (previous.group(1)[:1].isupper()
                                    or previous.group(1)[:1].isdigit()
                                    or previous.group(1).lower() == "the"):  # fmt: skip
            return None
        return _STREETS[m.group(1)] + _final_period(m)

    latin = "|".join(re.escape(k) for k in sorted(_LATIN, key=len, reverse=True))

    @rule(rf"(?<![\w.])(?:{latin})(?![\w])", digits=False)
    def _latin(m: re.Match[str]) -> str:
        return _LATIN[m.group(0)] + _final_period(m)

    @rule(r"(?<=\w) v\. (?=[A-Z])", needs=".", digits=False)
    def _versus(m: re.Match[str]) -> str | None:
        previous = _PREVIOUS_WORD.search(m.string, 0, m.start() + 1)
        return " versus " if previous and previous.group(1)[:1].isupper() else None

    @rule(
        r"(?<![\w.])(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.", needs=".", digits=False
    )
    def _month_abbreviation(m: re.Match[str]) -> str:
        return _MONTHS[_MONTH_ALIASES[m.group(1).lower()] - 1] + _final_period(m)

    # Phone numbers.
    @rule(r"(?<![\w+.])(?:(\+\d{1,3})[\s.-]?|1[\s.-])?(?:\((\d{3})\)\s?|(\d{3})[\s.-])"
          r"(\d{3})[\s.-](\d{4})(?![\w-]|\.\d)"
          r"|(?<![\w+.,-])(\d{3})-(\d{4})(?![\w-]|\.\d)"
          r"|(?<![\w+])(\+\d{1,3})((?:[\s.-]\d{1,4}){2,5})(?![\w-]|\.\d)")  # fmt: skip
    def _phone(m: re.Match[str]) -> str:
        groups = [g for g in re.findall(r"\+?\d+", m.group(0))]
        spoken = []
        for group in groups:
            if group.startswith("+"):
                spoken.append("plus " + n.digits(group[1:], zero="oh"))
            else:
                spoken.append(n.digits(group, zero="oh"))
        return ", ".join(spoken)

    # Dates.
    def date(year: str | None, month: int, day: int, day_first: bool) -> str:
        name = _MONTHS[month - 1]
        if day_first or british:
            said = f"the {n.ordinal(day)} of {name}"
            return f"{said} {year_words(year)}" if year else said
        said = f"{name} {n.ordinal(day)}"
        return f"{said}, {year_words(year)}" if year else said

    @rule(r"(?<![\w.-])(\d{4})-(\d{2})-(\d{2})(?![\w-]|\.\d)", needs="-")
    def _iso_date(m: re.Match[str]) -> str | None:
        year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return date(year, month, day, day_first=False)

    @rule(r"(?<![\w/.])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/]|\.\d)", needs="/")
    def _slash_date(m: re.Match[str]) -> str | None:
        first, second, year = int(m.group(1)), int(m.group(2)), m.group(3)
        if len(year) == 2:
            year = ("20" if int(year) < 50 else "19") + year
        day_first = british or first > 12
        month, day = (second, first) if day_first else (first, second)
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return date(year, month, day, day_first=day_first)

    @rule(rf"(?<![\w.])({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?![\w:]|[.,]\d)"
          r"(?:,?\s+(\d{4})(?![\w]|[.,]\d))?", needs="JFMASOND")  # fmt: skip
    def _month_day(m: re.Match[str]) -> str | None:
        day = int(m.group(2))
        if not 1 <= day <= 31:
            return None
        month = _MONTH_ALIASES[m.group(1).lower()]
        said = date(m.group(3), month, day, day_first=False)
        return said[4:] if british and _after_the(m) else said

    @rule(rf"(?<![\w.,])(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?(?![\w])"
          r"(?:,?\s+(\d{4})(?![\w]|[.,]\d))?", needs="JFMASOND")  # fmt: skip
    def _day_month(m: re.Match[str]) -> str | None:
        day = int(m.group(1))
        if not 1 <= day <= 31:
            return None
        said = date(m.group(3), _MONTH_ALIASES[m.group(2).lower()], day, day_first=True)
        return (said[4:] if _after_the(m) else said) + _final_period(m)  # "4 Jan." ends it

    # Times.
    def clock(hour: int, minute: int, second: int | None, half: str | None) -> str:
        if second is not None and half is None:  # 1:02:05 is a duration
            parts = [(hour, "hour"), (minute, "minute"), (second, "second")]
            said_parts = [f"{n.cardinal(v)} {u}{'' if v == 1 else 's'}" for v, u in parts if v]
            if len(said_parts) > 1:
                return " ".join(said_parts[:-1]) + " and " + said_parts[-1]
            return said_parts[0] if said_parts else "zero seconds"
        said = n.cardinal(hour)
        if minute == 0 and half is None and second is None:
            said += " hundred" if hour > 12 or hour == 0 else " o'clock"
        elif minute:
            said += " oh " + n.cardinal(minute) if minute < 10 else " " + n.cardinal(minute)
        if second:
            said += " and " + n.cardinal(second) + (" second" if second == 1 else " seconds")
        if half:
            said += " AM" if half.lower() == "a" else " PM"
        return said

    @rule(r"(?<![\w.:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d|:\d|\.\d)"
          r"(?:\s?([AaPp])\.?\s?[Mm]\.?(?!\w))?"
          r"|(?<![\w.:,])(\d{1,2})\s?([AaPp])\.?[Mm](?:\.|(?!\w))")  # fmt: skip
    def _time(m: re.Match[str]) -> str | None:
        if m.group(1) is not None:
            hour, minute = int(m.group(1)), int(m.group(2))
            second = int(m.group(3)) if m.group(3) else None
            half = m.group(4)
        else:
            hour, minute, second, half = int(m.group(5)), 0, None, m.group(6)
        if hour > 24 or minute > 59 or (second or 0) > 59 or (half and not 1 <= hour <= 12):
            return None
        return clock(hour, minute, second, half) + _final_period(m)

    @rule(r"(?<![\w.:])(\d+):(\d+)(?!\w|:\w|\.\d)", needs=":")
    def _ratio(m: re.Match[str]) -> str:
        return f"{n.integer(m.group(1))} to {n.integer(m.group(2))}"

    # Money.
    @rule(rf"(?<![\w])([-−])?({_CURRENCY})\s?({_NUM})(?:\s?({_SCALE})(?![\w]))?"
          rf"|(?<![\w.,])({_NUM})\s?(€|£|¥|₹|{_CURRENCY_CODES})(?![\w])",
          needs="$€£¥₹₩₽₿FDRPY")  # fmt: skip
    def _money(m: re.Match[str]) -> str | None:
        if m.group(2) is not None:
            sign, symbol, amount, scale = m.group(1), m.group(2), m.group(3), m.group(4)
        else:
            sign, symbol, amount, scale = None, m.group(6), m.group(5), None
        one, many, cent, cents = _CURRENCIES[symbol]
        minus = "minus " if sign else ""
        if scale:
            return f"{minus}{number(amount)} {_scale(scale)} {many}"
        whole, _, fraction = amount.partition(".")
        whole_value = int(whole.replace(",", "") or 0)
        if fraction and (len(fraction) > 2 or not cent):
            return f"{minus}{number(amount)} {many}"
        parts = []
        if whole_value or not fraction or not int(fraction.ljust(2, "0")):
            parts.append(f"{n.cardinal(whole_value)} {one if whole_value == 1 else many}")
        if fraction and int(fraction.ljust(2, "0")):
            value = int(fraction.ljust(2, "0"))
            parts.append(f"{n.cardinal(value)} {cent if value == 1 else cents}")
        return minus + " and ".join(parts)

    # Scales written short: "1.5M people", "2.3bn", "40mn".  A whole number before a
    # single K, M or B stays as it is ("4K video", "a 2B pencil", "flat 2B").
    @rule(r"(?<![\w.,])(\d+\.\d+)\s?([KMB]|bn|mn|tn)(?![\w'’])"
          r"|(?<![\w.,])(\d[\d,]*)\s?(bn|mn|tn)(?![\w'’])", needs="KMBbmt")  # fmt: skip
    def _short_scale(m: re.Match[str]) -> str:
        amount, scale = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return f"{number(amount)} {_SCALES[scale]}"

    # Durations in short units: "1h 20m", "6m 30s", "2h30m15s".
    @rule(r"(?<![\w.,])(?:(\d+)\s?h\s?)?(?:(\d+)\s?m(?:in)?\s?)(?:(\d{1,2})\s?s(?:ec)?)?(?![\w])",
          needs="hms")  # fmt: skip
    def _duration(m: re.Match[str]) -> str | None:
        hours, minutes, seconds = m.groups()
        if hours is None and seconds is None:
            return None  # "6m" alone is six metres
        parts = [(hours, "hour"), (minutes, "minute"), (seconds, "second")]
        said = [f"{n.cardinal(int(v))} {unit}{'' if int(v) == 1 else 's'}"
                for v, unit in parts if v is not None]  # fmt: skip
        return " and ".join([", ".join(said[:-1]), said[-1]] if len(said) > 1 else said)

    @rule(r"(?<![\w.,'’])(\d{1,3})s(?![\w'’])", needs="s")
    def _plural_or_seconds(m: re.Match[str]) -> str | None:
        # "rolled 7s": sevens; "45s later": seconds; "the 60s" is a decade (read later).
        digits = m.group(1)
        if len(digits) == 1:
            word = n.cardinal(int(digits))
            return word + ("es" if word.endswith("x") else "s")
        if digits.endswith("0"):
            return None
        return f"{n.cardinal(int(digits))} seconds"

    # Quantities: a number or a range of them, then a unit.
    @rule(rf"(?<![\w.,])([-−+])?({_NUM})(?:\s?(?:[-–—]|to)\s?({_NUM}))?(\s?|-)({_UNIT})"
          r"(?![\w/²³])(\.(?=\s+[a-z\d]|\s*[,;:)]))?")  # fmt: skip
    def _quantity(m: re.Match[str]) -> str | None:
        sign, first, second, joint, unit, period = m.groups()
        if unit == "x" and (second or joint):
            return None
        if unit == "s" and not joint:
            return None  # "30s" is a decade or a plural ("the 30s", "7s"); "30 s" is seconds
        singular, plural = _UNITS[unit]
        last = second or first
        adjective = joint == "-"
        words = singular if adjective or (is_one(last) and not second) else plural
        said = number(first)
        if sign:
            said = ("plus " if sign == "+" else "minus ") + said
        if second:
            said += " to " + number(second)
        # A unit's abbreviation point before the sentence goes on ("500 ft. and then")
        # is not read as a sentence's end: *period* is dropped.
        return f"{said}{'-' if adjective else ' '}{metric(words)}"

    @rule(r"(?<!\w)(\d)['′]\s?(\d{1,2})(?:\"|″|'')", needs="'′")
    def _feet_inches(m: re.Match[str]) -> str:
        return f"{n.cardinal(int(m.group(1)))} foot {n.cardinal(int(m.group(2)))}"

    # Decades and ordinals.
    @rule(r"(?<![\w'’])(?:(1[1-9]|20)(\d)0|['’](\d)0|([1-9])0)s(?!\w)", needs="s")
    def _decade(m: re.Match[str]) -> str:
        if m.group(1):
            said = n.year(int(m.group(1) + m.group(2) + "0"))
        else:
            said = n.cardinal(int((m.group(3) or m.group(4)) + "0"))
        head, _, last = said.rpartition(" ")
        last = last[:-1] + "ies" if last.endswith("y") else last + "s"
        return f"{head} {last}".strip()

    @rule(rf"(?<![\w.,])({_INT})(st|nd|rd|th|ST|ND|RD|TH)(?!\w)", needs="snrtSNRT")
    def _ordinal(m: re.Match[str]) -> str:
        return n.ordinal(int(m.group(1).replace(",", "")))

    # Multiplication, versions.
    @rule(r"(?<![\w.,])(\d+)\s?[x×*]\s?(\d+)(?![\w]|[.,]\d)", needs="x×*")
    def _by(m: re.Match[str]) -> str:
        joint = " times " if "*" in m.group(0) else " by "
        return n.integer(m.group(1)) + joint + n.integer(m.group(2))

    @rule(r"(?<![\w.])(v)?(\d+(?:\.\d+){2,})(?![\w]|\.\d)|(?<![\w.])v(?=\d)", needs=".v")
    def _version(m: re.Match[str]) -> str:
        previous = _PREVIOUS_WORD.search(m.string, 0, m.start())
        named = previous is not None and previous.group(1).lower() in ("version", "release")
        if m.group(2) is None:
            return "" if named else "version "  # "version v2.0": once
        parts = m.group(2).split(".")
        joint = " dot " if len(parts) == 4 and all(int(p) <= 255 for p in parts) else " point "
        said = joint.join(n.integer(p) if not (len(p) > 1 and p.startswith("0")) else n.digits(p)
                          for p in parts)  # fmt: skip
        return ("version " if m.group(1) and not named else "") + said

    # Fractions.
    def fraction(top: int, bottom: int) -> str:
        if bottom == 2:
            name = "half" if top == 1 else "halves"
        elif bottom == 4:
            name = "quarter" if top == 1 else "quarters"
        else:
            name = n.ordinal(bottom) + ("" if top == 1 else "s")
        return f"{n.cardinal(top)} {name}"

    @rule(
        r"(?:(?<![\w.,])(\d+)\s?)?([½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞⅐⅑⅒])",
        needs="".join(_FRACTION_CHARS),
        digits=False,
    )
    def _fraction_char(m: re.Match[str]) -> str:
        top, bottom = _FRACTION_CHARS[m.group(2)]
        said = fraction(top, bottom)
        if m.group(1):
            said = n.integer(m.group(1)) + " and " + (said.replace("one ", "a ", 1)
                                                       if top == 1 else said)  # fmt: skip
        return said

    @rule(r"(?<![\w/.,])(?:(\d{1,3})\s+)?(\d+)\s?[/⁄]\s?(\d+)(?![\w/]|[.,]\d)", needs="/⁄")
    def _fraction(m: re.Match[str]) -> str:
        whole, top, bottom = m.group(1), int(m.group(2)), int(m.group(3))
        if bottom in _FRACTION_DENOMINATORS and 0 < top < bottom * 2 and top != bottom:
            said = fraction(top, bottom)
            if whole:
                said = n.integer(whole) + " and " + (said.replace("one ", "a ", 1)
                                                     if top == 1 else said)  # fmt: skip
            return said
        said = f"{n.integer(m.group(2))} {n.integer(m.group(3))}"
        return f"{n.integer(whole)} {said}" if whole else said

    # Codes of three or more groups of digits (ISBN 978-3-16-148410-0, part numbers):
    # digit by digit, group by group; dates and phone numbers are read before.
    @rule(r"(?<![\w.,+-])\d+(?:-\d+){2,}(?![\w-]|[.,]\d)", needs="-")
    def _code(m: re.Match[str]) -> str:
        return ", ".join(n.digits(group) for group in m.group(0).split("-"))

    # Ranges.
    @rule(r"(?<![\w.,])(\d{4}|\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?([–—]|-(?=\d))\s?"
          r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w]|[.,]\d)", needs="-–—")  # fmt: skip
    def _range(m: re.Match[str]) -> str | None:
        first, dash, second = m.groups()
        if dash == "-" and m.string[m.start(2) - 1 : m.start(2)].isspace():
            return None
        if re.fullmatch(r"\d{4}", first) and _is_year(m, first):
            if re.fullmatch(r"\d{4}", second):
                return f"{year_words(first)} to {year_words(second)}"
            if re.fullmatch(r"\d{2}", second):
                end = int(second)
                tail = n.cardinal(end) if end >= 10 else n.year(int(first[:2] + second))
                return f"{year_words(first)} to {tail}"
        return f"{number(first)} to {number(second)}"

    # Numbers inside words: B2B, mp3, COVID19 -> B 2 B, MP 3, COVID 19.
    @rule(r"(?<![\w])[bcdfghjklmnpqrstvwxz]{1,3}(?=\d+(?![\w]))")
    def _consonants(m: re.Match[str]) -> str:
        return m.group(0).upper()

    @rule(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
    def _split_word(m: re.Match[str]) -> str:
        return " "

    # Signs, decimals, and plain numbers (years among them).
    @rule(r"(?<![\w.,)\]])([-−+])(?=\.?\d)", needs="-−+")
    def _sign(m: re.Match[str]) -> str:
        return "plus " if m.group(1) == "+" else "minus "

    @rule(rf"(?<![\w.,])({_INT})?\.(\d+)(?![\w]|\.\d)", needs=".")
    def _decimal(m: re.Match[str]) -> str:
        return n.decimal((m.group(1) or "").replace(",", ""), m.group(2))

    @rule(r"(?<!\d)(\d{1,3}(?:,\d{3})+|\d+)(?!\d)")
    def _integer(m: re.Match[str]) -> str:
        digits = m.group(1)
        if len(digits) == 4 and _is_year(m, digits):
            return year_words(digits)
        previous = _PREVIOUS_WORD.search(m.string, 0, m.start())
        if len(digits) <= 4 and previous and previous.group(1).lower() in ("call", "dial"):
            return n.digits(digits, zero="oh")  # "call 911": nine one one
        return n.integer(digits)

    # Roman numerals.
    @rule(rf"\b({_KEYWORDS_BEFORE_ROMAN})\s+({_ROMAN})(?![\w'’])", needs="IVXLCDM", digits=False)
    def _roman_after_keyword(m: re.Match[str]) -> str | None:
        value = roman_value(m.group(2))
        if value is None or m.group(2) in _LETTER_LIKE:
            return None
        if m.group(2) == "I" and _lone_i_is_pronoun(m, 1):
            return None  # "the part I am proudest of": the pronoun
        return f"{m.group(1)} {n.cardinal(value)}"

    @rule(rf"\b({_MONARCHS})\s+({_ROMAN})(?![\w'’])", needs="IVXLCDM", digits=False)
    def _regnal(m: re.Match[str]) -> str | None:
        value = roman_value(m.group(2))
        if value is None or m.group(2) in _LETTER_LIKE:
            return None
        if m.group(2) == "I" and _lone_i_is_pronoun(m, 1, name=True):
            return None  # "Henry I know": the pronoun
        return f"{m.group(1)} the {n.ordinal(value).capitalize()}"

    # The letter A, which espeak-ng reads as the article before a word: after a word
    # that names things by letter ("items A through F", "grade A students", "vitamin
    # A is"), in a range of letters ("A to Z", "A or B"), a key ("in A minor"), a
    # mark ("an A", "A+").  A capital A elsewhere stays an article: verse starts its
    # lines with capitals, and in Title Case ("Ten Questions A Reader Asks") an A
    # before a capitalized word is the article.
    @rule(rf"\b((?i:{_BY_LETTER}))\s+A(?![\w'’-]|\s+[A-Z][a-z])", needs="A", digits=False)
    def _letter_a(m: re.Match[str]) -> str:
        return f"{m.group(1)} eigh"

    @rule(r"(?<![\w'’-])A(?= (?:through|thru|to|or|and|versus|vs\.?|&) [A-HJ-Z](?![\w'’]))"
          r"|(?:(?<=\bin )|(?<=\bof ))A(?= (?:major|minor|flat|sharp)\b)"
          r"|(?:(?<=\ban )|(?<=\bAn ))A(?![\w'’+−-])|(?<![\w'’-])A([+−-])(?![\w+−-])",
          needs="A", digits=False)  # fmt: skip
    def _letter_a_elsewhere(m: re.Match[str]) -> str:
        sign = m.group(1)
        return "eigh" if sign is None else "eigh plus" if sign == "+" else "eigh minus"

    # Symbols.
    symbols = {
        "&": " and ", "@": " at ", "=": " equals ", "×": " times ", "÷": " divided by ",
        "±": " plus or minus ", "°": " degrees ", "§": " section ", "¶": " paragraph ",
        "©": " copyright ", "→": " to ", "⇒": " to ", "≈": " approximately ",
        "≠": " is not equal to ", "≤": " is less than or equal to ",
        "≥": " is greater than or equal to ", "∞": " infinity ", "√": " square root of ",
        "%": " percent ", "‰": " per mille ", "²": " squared ", "³": " cubed ", "$": " dollar ",
        "€": " euro ", "£": " pound ", "_": " ", "--": " — ", "№": " number ",
    }  # fmt: skip

    @rule(r"(?<=\b[CFJ])#(?!\w)", needs="#", digits=False)
    def _sharp(m: re.Match[str]) -> str:
        return " sharp"

    @rule(r"\+\+|\+", needs="+", digits=False)
    def _plus(m: re.Match[str]) -> str:
        return " plus plus " if m.group(0) == "++" else " plus "

    @rule(r"(?<!\w)#(?=[^\W\d_])", needs="#", digits=False)
    def _hashtag(m: re.Match[str]) -> str:
        return "hashtag "

    # Comparisons between words: "x < y", "a >= b", with spaces (a lone "<" or ">"
    # elsewhere is markup, not read); before a number, see _compare_number.
    @rule(r"(?<=\s)[<>]=?(?=\s)", needs="<>", digits=False)
    def _compare(m: re.Match[str]) -> str:
        return _comparison(m.group(0))

    @rule(r"\b[Aa]nd/or\b|(?<=\w)/(?=\w)|(?<!\w)w/(?=\s)", needs="/", digits=False)
    def _slash(m: re.Match[str]) -> str:
        if m.group(0) == "w/":
            return "with"
        if m.group(0).lower() == "and/or":
            return m.group(0)[:3] + " or"
        before = m.string[m.start() - 1]
        after = m.string[m.end()]
        unit = _WORD_AFTER.match(m.string, m.end())
        if unit and unit.group(0).lower() in _PER:
            return " per "  # "180 pushes/day"
        return " or " if before.islower() and after.islower() else " "

    @rule("|".join(re.escape(s) for s in sorted(symbols, key=len, reverse=True)),
          needs="".join({s[0] for s in symbols}), digits=False)  # fmt: skip
    def _symbol(m: re.Match[str]) -> str:
        return symbols[m.group(0)]

    @rule(r"(?<!\w)#+(?!\w)|#", needs="#", digits=False)
    def _stray_hash(m: re.Match[str]) -> str:
        return " "

    return rules


def _starts_sentence(match: re.Match[str]) -> bool:
    return not re.search(r"[^\W_]", match.string[: match.start()])


def _after_the(match: re.Match[str]) -> bool:
    return re.search(r"\bthe\s+$", match.string[max(0, match.start() - 8) : match.start()],
                     re.IGNORECASE) is not None  # fmt: skip


# --- other languages --------------------------------------------------------------

_SEPARATORS = {
    # language: (thousands separators, decimal separator)
    "de": (".", ","), "es": (".", ","), "it": (".", ","), "pt": (".", ","), "nl": (".", ","),
    "da": (".", ","), "no": (". ", ","), "nb": (". ", ","), "sv": (" ", ","), "fi": (" ", ","),
    "fr": (" ", ","), "pl": (" ", ","), "cs": (" ", ","), "sk": (" ", ","), "ru": (" ", ","),
    "uk": (" ", ","), "tr": (".", ","), "hu": (" ", ","), "ro": (".", ","), "sl": (".", ","),
    "hr": (".", ","), "sr": (".", ","), "lt": (" ", ","), "lv": (" ", ","), "el": (".", ","),
    "id": (".", ","), "vi": (".", ","), "ca": (".", ","), "is": (".", ","),
}  # fmt: skip
_PERCENT_WORDS = {
    "de": "Prozent", "fr": "pour cent", "es": "por ciento", "it": "per cento",
    "pt": "por cento", "nl": "procent", "pl": "procent", "cs": "procent", "sv": "procent",
    "da": "procent", "no": "prosent", "nb": "prosent", "fi": "prosenttia", "ru": "процентов",
    "tr": "yüzde", "hu": "százalék",
}  # fmt: skip
_AND_WORDS = {
    "de": "und", "fr": "et", "es": "y", "it": "e", "pt": "e", "nl": "en", "pl": "i",
    "cs": "a", "sv": "och", "da": "og", "no": "og", "nb": "og", "fi": "ja", "ru": "и",
}  # fmt: skip


_GERMAN_ORDINAL = re.compile(
    r"\b(am|im|vom|zum|beim|dem|den|der|die|das|des|zur|seit|ab|bis|ein|eine|einem|einen|"
    r"jeden|jedem) (\d{1,3})\.(?= \w)",
    re.IGNORECASE,
)
"""A German ordinal, written "3." after an article or preposition: "am 3. Mai"."""
_GERMAN_DATIVE = frozenset({"am", "im", "vom", "zum", "beim", "dem", "den", "zur", "des",
                            "seit", "ab", "bis", "einem", "einen", "jeden", "jedem"})  # fmt: skip


def _german_ordinal(numbers: Numbers) -> Callable[[re.Match[str]], str]:
    def say(match: re.Match[str]) -> str:
        ordinal = numbers.ordinal(int(match.group(2)))  # "dritte"
        if match.group(1).lower() in _GERMAN_DATIVE and ordinal.endswith("e"):
            ordinal += "n"
        return f"{match.group(1)} {ordinal}"

    return say


def _generic_rules(numbers: Numbers) -> list[Rule]:
    """Rules for languages other than English: URLs, numbers with num2words, % and &."""
    rules: list[Rule] = []
    base = numbers.base
    if base in _URL_WORDS:
        rules.append((_EMAIL, _email_reader(base), "@", False))
        rules.append((_URL, _url_reader(base), "./", False))
    if base == "de":
        rules.extend(german_rules(numbers))
    if base in _AND_WORDS:
        word = _AND_WORDS[base]
        rules.append((re.compile(r"\s?&\s?"), lambda m: f" {word} ", "&", False))
    if not numbers.available:
        return rules
    group, point = _SEPARATORS.get(base, (",", "."))
    group_class = "[" + re.escape(group) + "\u00a0\u202f]" if group.strip() else "[ \u00a0\u202f]"
    if group == ". ":
        group_class = r"[. \u00a0\u202f]"
    number = rf"\d{{1,3}}(?:{group_class}\d{{3}})+(?!\d)|\d+"
    pattern = re.compile(
        rf"(?<![\w.,])([-−])?({number})(?:{re.escape(point)}(\d+))?(?![\w]|[.,]\d)(\s?%)?"
    )
    percent = _PERCENT_WORDS.get(base, "%")

    def say(m: re.Match[str]) -> str | None:
        sign, whole, fraction, percent_sign = m.groups()
        digits = re.sub(r"\D", "", whole)
        if fraction:
            said = numbers.decimal(digits, fraction)
        elif whole.isdigit() and len(whole) == 4 and 1100 <= int(whole) <= 1999 and not sign:
            said = numbers.year(int(digits))
        else:
            said = numbers.integer(digits)
        if sign:
            said = numbers.negative(said)
        if percent_sign:
            said += " " + percent
        return said

    if base == "de":
        rules.append((_GERMAN_ORDINAL, _german_ordinal(numbers), ".", True))
    rules.append((pattern, say, None, True))
    rules.append(
        (re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])"), lambda m: " ", None, True)
    )
    return rules


@lru_cache(maxsize=32)
def normalizer_for(language: str) -> Normalizer:
    """A cached :class:`Normalizer` without a lexicon."""
    return Normalizer(language)


def normalize(text: str, language: str = "en", lexicon: Lexicon | None = None) -> str:
    """*text* (one sentence) made speakable: the convenience form for plain strings."""
    normalizer = Normalizer(language, lexicon) if lexicon else normalizer_for(language)
    return normalizer(Mapped.of(text)).text
