"""保険者番号 rules (docs/numbers.md)."""

from __future__ import annotations

import pytest

from onshi_kernel.numbers import (
    InsurerKind,
    InsurerNumber,
    InvalidInsurerNumber,
    complete_insurer_number,
    luhn_check_digit,
)


@pytest.mark.parametrize(
    ("digits", "check"),
    [("3312001", 5), ("0613001", 7), ("3913001", 8), ("13800", 8), ("0113001", 2)],
)
def test_check_digit_is_luhn_over_the_preceding_digits(digits: str, check: int) -> None:
    assert luhn_check_digit(digits) == check


def test_spec_example_3312001_has_check_digit_5() -> None:
    assert complete_insurer_number("3312001") == "33120015"


def test_eight_digit_number_with_right_check_digit_is_valid() -> None:
    number = InsurerNumber("06130017")
    assert number.kind is InsurerKind.HEALTH_INSURANCE_SOCIETY
    assert not number.is_national_health


@pytest.mark.parametrize("wrong", ["06130010", "33120016", "13800" + "1"])
def test_wrong_check_digit_is_refused(wrong: str) -> None:
    with pytest.raises(InvalidInsurerNumber, match="check digit"):
        InsurerNumber(wrong)


def test_national_health_numbers_have_six_digits_checked_over_five() -> None:
    number = InsurerNumber("138008")
    assert number.is_national_health
    assert number.kind is InsurerKind.NATIONAL_HEALTH


@pytest.mark.parametrize("padded", ["  138008", "00138008", "138008"])
def test_national_health_number_may_arrive_padded_to_eight(padded: str) -> None:
    assert InsurerNumber.parse(padded).digits == "138008"


def test_national_health_number_answers_right_aligned_with_spaces() -> None:
    assert InsurerNumber("138008").wire == "  138008"
    assert InsurerNumber("06130017").wire == "06130017"


def test_late_elderly_numbers_start_with_39() -> None:
    assert InsurerNumber("39130018").kind is InsurerKind.LATE_ELDERLY


@pytest.mark.parametrize(
    "bad", ["", "1234567", "123456789", "0613001a", "０６１３００１７", "12345", "00000000"]
)
def test_malformed_numbers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInsurerNumber):
        InsurerNumber.parse(bad)


def test_unknown_law_number_is_other_not_an_error() -> None:
    assert InsurerNumber(complete_insurer_number("9913001")).kind is InsurerKind.OTHER
