"""My Number check digits (docs/numbers.md) and the BER-TLV helpers."""

from __future__ import annotations

import pytest

from card_reader.core.tlv import (
    TlvError,
    der_total_length,
    encode_tlv,
    first_tlv,
    iter_tlvs,
    parse_header,
)
from onshi_kernel.mynumber import (
    DEVELOPMENT_PSEUDONYM_KEY,
    InvalidMyNumber,
    check_digit,
    complete_my_number,
    is_valid_my_number,
    person_reference,
    validate_my_number,
)


@pytest.mark.parametrize(
    ("first_eleven", "digit"), [("12345678901", 8), ("00000000000", 0), ("71106658035", 4)]
)
def test_check_digit_vectors(first_eleven: str, digit: int) -> None:
    assert check_digit(first_eleven) == digit


@pytest.mark.parametrize(
    "bad",
    ["123456789010", "12345678901", "1234567890188", "12345678901a", "１２３４５６７８９０１８"],
)
def test_invalid_my_numbers_are_refused(bad: str) -> None:
    assert not is_valid_my_number(bad)
    with pytest.raises(InvalidMyNumber):
        validate_my_number(bad)


def test_error_never_repeats_the_digits() -> None:
    with pytest.raises(InvalidMyNumber) as info:
        validate_my_number("123456789010")
    assert "123456789010" not in str(info.value)


def test_every_completed_number_is_valid() -> None:
    for n in range(0, 10**11, 7_919_191_919):
        assert is_valid_my_number(complete_my_number(f"{n:011d}"))


def test_person_reference_is_keyed_and_stable() -> None:
    ref = person_reference("123456789018", DEVELOPMENT_PSEUDONYM_KEY)
    assert ref == person_reference("123456789018", DEVELOPMENT_PSEUDONYM_KEY)
    assert ref != person_reference("123456789018", b"another-key-of-16-bytes")
    assert "123456789018" not in ref
    assert len(ref) == 64


def test_person_reference_refuses_short_keys() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        person_reference("123456789018", b"short")


@pytest.mark.parametrize(
    ("prefix", "total"),
    [("308204A8", 0x4A8 + 4), ("30820100", 0x104), ("3081FF", 0xFF + 3), ("307F", 0x81)],
)
def test_der_total_length_from_the_header(prefix: str, total: int) -> None:
    assert der_total_length(bytes.fromhex(prefix)) == total


@pytest.mark.parametrize("prefix", ["", "30", "3082", "3080", "0482FFFF", "3085FFFFFFFFFF"])
def test_bad_der_headers_are_refused(prefix: str) -> None:
    with pytest.raises(TlvError):
        der_total_length(bytes.fromhex(prefix))


def test_multi_byte_tags() -> None:
    header = parse_header(bytes.fromhex("FF2003DF2100"))
    assert (header.tag, header.length, header.header_length) == (0xFF20, 3, 3)
    assert list(iter_tlvs(bytes.fromhex("DF2101AADF2200"))) == [(0xDF21, b"\xaa"), (0xDF22, b"")]


def test_encode_then_parse_long_values() -> None:
    value = bytes(300)
    assert first_tlv(encode_tlv(0xDF22, value) + b"\xff\xff") == (0xDF22, value)


def test_value_running_past_the_end_is_refused() -> None:
    with pytest.raises(TlvError):
        list(iter_tlvs(bytes.fromhex("DF2205AA")))
