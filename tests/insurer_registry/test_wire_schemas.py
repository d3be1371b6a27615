"""The API document's patterns say what the registry's rules take: a value the published
JSON Schema calls valid is one `domain`, `wire` and `numbers` accept, and the other way
round (but for what no pattern can say: a check digit, a byte count in Shift_JIS)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from insurer_registry.members.codes import (
    InsuredCardClassification,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import ELEMENT_NAMES, InvalidRecord, accepted_record
from insurer_registry.members.schemas_common import (
    AddressText,
    InsuredNumberPart,
    InsurerNumberText,
    KanaText,
    NameText,
    WireDate,
)
from insurer_registry.members.wire import parse_wire_date
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber


def published(annotation: Any) -> jsonschema_rs.Validator:
    """A validator of the JSON Schema the document publishes for `annotation`."""
    return jsonschema_rs.validator_for(TypeAdapter(annotation).json_schema(mode="validation"))


def parses(text: str) -> bool:
    try:
        parse_wire_date(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("year", ["0000", "0001", "0004", "0100", "0400", "1900", "1999",
                                  "2000", "2023", "2024", "2100", "9996", "9999"])  # fmt: skip
def test_the_date_pattern_takes_the_calendar_dates_and_nothing_else(year: str) -> None:
    document = published(WireDate)
    for month_day in range(10_000):
        text = f"{year}{month_day:04d}"
        assert document.is_valid(text) == parses(text), text


def test_february_29th_is_a_date_in_the_leap_years_only() -> None:
    document = published(WireDate)
    for year in range(1, 10_000):
        text = f"{year:04d}0229"
        assert document.is_valid(text) == parses(text), text


def test_the_qualification_servers_dates_are_the_same_calendar_dates() -> None:
    """Its date fields enforce the same pattern (pydantic's regex engine, not the
    document's)."""
    from qualification_server.contract.schemas import Yyyymmdd

    server = TypeAdapter(Yyyymmdd)
    for year in ("0000", "0001", "1900", "2000", "2024", "2100"):
        for month_day in range(10_000):
            text = f"{year}{month_day:04d}"
            try:
                server.validate_python(text)
            except ValueError:
                taken = False
            else:
                taken = True
            assert taken == parses(text), text


def insurer_number_problem(text: str) -> str | None:
    try:
        InsurerNumber.parse(text)
    except InvalidInsurerNumber as error:
        return error.reason
    return None


insurer_numbers = st.one_of(
    st.text(alphabet="0123456789 a", max_size=10),
    st.from_regex(r"\A[0-9]{8}\Z"),
    st.from_regex(r"\A {0,2}[0-9]{6} {0,2}\Z"),
)


@given(insurer_numbers)
@settings(max_examples=1000)
def test_the_insurer_number_pattern_takes_what_parses_but_for_the_check_digit(text: str) -> None:
    problem = insurer_number_problem(text)
    assert published(InsurerNumberText).is_valid(text) == (
        problem in (None, "check digit does not match")
    ), (text, problem)


def test_every_insurer_number_the_tests_use_is_valid_by_the_document() -> None:
    document = published(InsurerNumberText)
    for text in ("06130017", "138008", "  138008", "00138008", "39130018"):
        assert document.is_valid(text), text


def test_the_control_and_format_characters_left_out_are_unicodes() -> None:
    """The text patterns leave out categories Cc and Cf, as this Python's tables have them."""
    document = published(NameText)
    for code in range(0x110000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates are no text
        invisible = unicodedata.category(char) in ("Cc", "Cf")
        assert document.is_valid(f"a{char}b") != invisible, hex(code)


VALID: dict[str, Any] = {
    "number": "1001",
    "branch": "00",
    "card_classification": InsuredCardClassification.GENERAL,
    "personal_family": PersonalFamilyClassification.INSURED,
    "name": "山田　太郎",
    "sex": Sex.MALE,
    "birthdate": dt.date(1980, 4, 1),
    "qualification_date": dt.date(2020, 4, 1),
}
# What no pattern can say: the reasons left to the field's description.
UNSAID = ("Shift_JIS (CP932)", "bytes")


def registry_takes(attribute: str, value: str) -> bool:
    """True if the record rules take `value` for `attribute`, but for what no pattern says."""
    try:
        accepted_record({**VALID, attribute: value})
    except InvalidRecord as error:
        element = ELEMENT_NAMES[attribute]
        return not [
            p
            for p in error.problems
            if p.field == element and not any(u in p.reason for u in UNSAID)
        ]
    return True


# Text near the rules' edges: spaces of either width, controls, format characters, kana.
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(" \u3000\t\n\x85\xa0\u200b\u202e\ufeff\xadaA1山ヤﾔー・ﾟ\U000e0041"),
        st.characters(blacklist_categories=["Cs"]),  # surrogates are no text
    ),
    max_size=6,
)


@pytest.mark.parametrize(
    ("attribute", "annotation"),
    [
        ("name", NameText),
        ("insured_name", NameText),
        ("address", AddressText),
        ("name_kana", KanaText),
        ("number", InsuredNumberPart),
        ("symbol", InsuredNumberPart),
    ],
)
@given(value=texts)
@settings(max_examples=500)
def test_a_text_pattern_takes_what_the_record_rules_take(
    attribute: str, annotation: Any, value: str
) -> None:
    assert published(annotation).is_valid(value) == registry_takes(attribute, value), value
