"""Normalization: golden files in ``tests/data/normalize`` and the pieces behind them.

The golden files use the format described in ``golden.py``; each covers one
rule (numbers, dates, currency, units, abbreviations, URLs, symbols, other
languages, ...).  The tests below pin down what the files cannot show.
"""

from __future__ import annotations

import re

import pytest

from narrator.text import Normalizer, chunk, normalize, split_text
from narrator.text.chunks import LONGEST_CHUNK, fit
from narrator.text.mapped import Mapped
from narrator.text.normalize import roman_value
from narrator.text.numbers import Numbers, num2words_language

from .golden import DATA, check_golden_files, golden_cases, render

NORMALIZE = DATA / "normalize"


@pytest.mark.parametrize(("text", "language", "expected"), golden_cases(NORMALIZE))
def test_golden(text: str, language: str, expected: list[str]) -> None:
    assert render(split_text(text, language=language)) == expected


def test_golden_files_are_well_formed() -> None:
    check_golden_files(NORMALIZE, 30)


# --- numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("1984 was a year.", "nineteen eighty-four was a year."),
        ("Born 1984.", "Born nineteen eighty-four."),
        ("1984 people came.", "one thousand nine hundred eighty-four people came."),
        ("1500 meters of rope.", "one thousand five hundred meters of rope."),
        ("1500 of them.", "one thousand five hundred of them."),
        ("Page 1999 is blank.", "Page one thousand nine hundred ninety-nine is blank."),
        ("In 1066 they came.", "In ten sixty-six they came."),
        ("It was 1066 or so.", "It was one thousand sixty-six or so."),
        ("The 2100 seats.", "The two thousand one hundred seats."),
        ("By 1850 BC it fell.", "By eighteen fifty BC it fell."),
    ],
)
def test_year_or_number(text: str, spoken: str) -> None:
    assert normalize(text, "en_US") == spoken


def test_american_and_british_numbers() -> None:
    assert normalize("101 dogs", "en_US") == "one hundred one dogs"
    assert normalize("101 dogs", "en_GB") == "one hundred and one dogs"
    assert normalize("5 km", "en_GB") == "five kilometres"
    assert normalize("5 km", "en") == "five kilometers"


def test_numbers_never_keep_commas_that_would_add_pauses() -> None:
    spoken = normalize("3,497,001 votes", "en")
    assert "," not in spoken
    assert spoken == "three million four hundred ninety-seven thousand one votes"


def test_huge_and_zero_padded_numbers_are_read_digit_by_digit() -> None:
    assert normalize("Code 007.", "en") == "Code zero zero seven."
    spoken = normalize("1234567890123456789", "en")
    assert spoken.split()[:3] == ["one", "two", "three"] and not re.search(r"\d", spoken)


def test_numbers_for_other_languages_use_num2words() -> None:
    assert num2words_language("de_DE") == "de"
    assert num2words_language("pt_BR") == "pt_BR"
    assert num2words_language("nb_NO") == "no"
    assert num2words_language("zh_CN") is None
    assert Numbers("de").cardinal(21) == "einundzwanzig"
    assert Numbers("es").decimal("3", "5") == "tres punto cinco"
    assert normalize("Ich habe 3 Katzen.", "de") == "Ich habe drei Katzen."


def test_a_language_num2words_lacks_keeps_its_digits() -> None:
    assert normalize("Das 3 und 4.", "xx") == "Das 3 und 4."


@pytest.mark.parametrize(
    ("numeral", "value"), [("IV", 4), ("XIV", 14), ("MCMLXXXIV", 1984), ("IIII", None), ("", None)]
)
def test_roman_values(numeral: str, value: int | None) -> None:
    assert roman_value(numeral) == value


def test_pronoun_i_after_a_monarchs_name_stays() -> None:
    assert normalize("Then Henry I know went home.", "en") == "Then Henry I know went home."
    assert normalize("Henry I.", "en") == "Henry the First."
    assert normalize("The Henry I met was kind.", "en") == "The Henry I met was kind."
    assert normalize("I told Paul I was late.", "en") == "I told Paul I was late."


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        (
            "Charles I was beheaded in 1649.",
            "Charles the First was beheaded in sixteen forty-nine.",
        ),
        ("King Charles I was beheaded.", "King Charles the First was beheaded."),
        ("Henry I died.", "Henry the First died."),  # was read as the pronoun before
        ("When Charles I was king, he ruled.", "When Charles the First was king, he ruled."),
        ("Peter I founded the city.", "Peter the First founded the city."),
        ("Henry VIII had six wives.", "Henry the Eighth had six wives."),
        ("Louis XIV built Versailles.", "Louis the Fourteenth built Versailles."),
        ("Elizabeth II opened it.", "Elizabeth the Second opened it."),
        # "I" the pronoun, after words that are no name: unchanged.
        ("Then I left.", "Then I left."),
        ("When I was young, I ran.", "When I was young, I ran."),
    ],
)
def test_regnal_numbers_after_a_name(text: str, spoken: str) -> None:
    assert normalize(text, "en") == spoken


# --- the normalizer keeps track of the input ----------------------------------------


def test_normalized_text_maps_back_to_its_source() -> None:
    source = "Dr. Smith paid $4.50 😀."
    spoken = Normalizer("en")(Mapped.of(source), dropped=(dropped := []))
    assert spoken.text == "Doctor Smith paid four dollars and fifty cents."
    doctor = next(p for p in spoken.pieces if p.text == "Doctor")
    assert source[doctor.start : doctor.end] == "Dr."
    money = next(p for p in spoken.pieces if "dollars" in p.text)
    assert source[money.start : money.end] == "$4.50"
    assert [(source[d.start : d.end], d.reason) for d in dropped] == [("😀", "unspeakable symbol")]


def test_a_sentence_final_abbreviation_keeps_its_period() -> None:
    assert normalize("We left at 9 a.m.", "en") == "We left at nine AM."
    assert normalize("We left at 9 a.m. on foot.", "en") == "We left at nine AM on foot."
    assert normalize("I live on Main St.", "en") == "I live on Main Street."
    assert normalize("Apples, pears, etc.", "en") == "Apples, pears, et cetera."


def test_spoken_text_never_holds_digits_in_english() -> None:
    text = ("On 2024-05-01 at 9:45 a.m. 3,497 people paid $4.50 for 5 km of 1/2-inch "
            "cable, v2.0, 3.11.7, COVID-19 and 22nd place, 1990–1995, 20°C, 5%.")  # fmt: skip
    assert not re.search(r"\d", normalize(text, "en"))


# --- chunks -----------------------------------------------------------------------

LONG = (
    "When the rain finally stopped, the children ran out into the garden; they shouted, "
    "they splashed through every puddle they could find, and their mother watched them "
    "from the kitchen window while the kettle, forgotten on the stove, began to sing."
)


def test_no_limit_is_one_chunk() -> None:
    assert chunk(LONG, None) == [LONG]
    assert chunk("  Short.  ", 100) == ["Short."]
    assert chunk("", 10) == []


def test_chunks_fit_and_lose_nothing() -> None:
    for limit in (40, 60, 80, 100, 150):
        pieces = chunk(LONG, limit)
        assert all(len(p) <= limit for p in pieces), (limit, pieces)
        assert " ".join(pieces).split() == LONG.split()


def test_chunks_never_cut_a_word() -> None:
    words = set(LONG.replace(",", " ").replace(";", " ").replace(".", " ").split())
    for limit in range(20, 120, 7):
        for piece in chunk(LONG, limit):
            for word in piece.replace(",", " ").replace(";", " ").replace(".", " ").split():
                assert word in words, (limit, piece)


def test_chunks_break_at_the_strongest_boundary() -> None:
    first, *_ = chunk(LONG, 100)
    assert first.endswith("garden;")
    first, second = chunk(LONG, 150)  # as few chunks as will do, then the best boundary
    assert first.endswith("find,")
    pieces = chunk("One two three four five six, seven eight nine ten eleven twelve.", 40)
    assert pieces[0].endswith("six,")


def test_chunks_are_balanced() -> None:
    pieces = chunk(LONG, 150)
    assert len(pieces) == 2
    assert min(len(p) for p in pieces) > 100


def test_an_extra_chunk_beats_cutting_a_clause_in_two() -> None:
    pieces = chunk(LONG, 130)
    assert [p[-1] for p in pieces] == [";", ",", "."]


def test_a_word_longer_than_the_limit_is_cut() -> None:
    pieces = chunk("a" * 25, 10)
    assert pieces == ["a" * 10, "a" * 10, "a" * 5]


def test_a_huge_sentence_is_capped_whatever_the_engine() -> None:
    text = " ".join(["word"] * 1000)
    pieces = chunk(text, None)
    assert len(pieces) == 5 and all(len(p) <= LONGEST_CHUNK for p in pieces)


def test_fit_recuts_only_what_is_too_long() -> None:
    assert fit(["short one", LONG], 100)[0] == "short one"
    assert all(len(p) <= 100 for p in fit(["short one", LONG], 100))
    assert fit(["a", "b"], None) == ["a", "b"]


@pytest.mark.parametrize("language", ["ja", "zh"])
def test_chinese_and_japanese_numbers_stay_digits_for_the_engine(language: str) -> None:
    """Written without spaces, a number is read with its counter ("3月" sangatsu), which
    the engine's front end knows: narrator neither spells it nor spaces it out."""
    assert normalize("私は3月5日に2,000円払った。", language) == "私は3月5日に2,000円払った。"


def test_chunks_of_chinese_and_japanese_end_at_their_punctuation() -> None:
    half = "今日は良い天気ですね、明日は雨が降るでしょう。本当ですか、はい、そうです。"
    assert chunk(half * 2, 40) == [half, half]  # not "...そうです。今日は" and "良い天気..."
