"""Short APDU encoding and parsing (ISO 7816-3 cases 1-4), with vectors of docs/card.md."""

from __future__ import annotations

import pytest

from card_reader.core.apdu import (
    CommandApdu,
    MalformedApdu,
    ResponseApdu,
    redact_apdu,
    tries_left_from_sw,
)

SELECT_JPKI = "00A4040C0AD392F000260100000001"
READ_HEADER = "00B0000004"
VERIFY_1234 = "002000800431323334"


@pytest.mark.parametrize(
    ("hex_apdu", "expected"),
    [
        (
            "00A4040C0AD392F000260100000001",
            CommandApdu(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("D392F000260100000001")),
        ),
        ("00A4020C02000A", CommandApdu(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("000A"))),
        (READ_HEADER, CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4)),
        ("00B0010000", CommandApdu(0x00, 0xB0, 0x01, 0x00, le=256)),
        ("0020008000", CommandApdu(0x00, 0x20, 0x00, 0x80, le=256)),
        ("00200080", CommandApdu(0x00, 0x20, 0x00, 0x80)),
        (VERIFY_1234, CommandApdu(0x00, 0x20, 0x00, 0x80, b"1234")),
    ],
)
def test_spec_vectors_round_trip(hex_apdu: str, expected: CommandApdu) -> None:
    raw = bytes.fromhex(hex_apdu)
    assert CommandApdu.from_bytes(raw) == expected
    assert expected.to_bytes() == raw


def test_compute_signature_is_case_4_with_le_256() -> None:
    digest_info = bytes.fromhex("3031300D060960864801650304020105000420") + bytes(32)
    apdu = CommandApdu(0x80, 0x2A, 0x00, 0x80, digest_info, le=256)
    assert apdu.to_bytes() == bytes.fromhex("802A008033") + digest_info + b"\x00"


@pytest.mark.parametrize(
    "hex_apdu",
    ["", "00", "00A404", "00A4040C05D392", "00A4040C02D3920000", "00A404000000FF"],
)
def test_malformed_apdus_are_refused(hex_apdu: str) -> None:
    with pytest.raises(MalformedApdu):
        CommandApdu.from_bytes(bytes.fromhex(hex_apdu))


@pytest.mark.parametrize(
    "kwargs", [{"cla": 256}, {"p1": -1}, {"data": bytes(256)}, {"le": 0}, {"le": 257}]
)
def test_out_of_range_fields_are_caller_errors(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"cla": 0, "ins": 0xB0, "p1": 0, "p2": 0, **kwargs}
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the field
        CommandApdu(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sw", "tries"), [(0x63C2, 2), (0x63C1, 1), (0x63C0, 0), (0x9000, None), (0x6984, None)]
)
def test_counter_status_words(sw: int, tries: int | None) -> None:
    assert tries_left_from_sw(sw) == tries


def test_response_splits_data_and_status_word() -> None:
    response = ResponseApdu.from_bytes(bytes.fromhex("308204A89000"))
    assert response == ResponseApdu(bytes.fromhex("308204A8"), 0x9000)
    assert response.to_bytes() == bytes.fromhex("308204A89000")


@pytest.mark.parametrize("hex_apdu", [VERIFY_1234, "002401800439383736"])
def test_redaction_hides_pins(hex_apdu: str) -> None:
    text = redact_apdu(bytes.fromhex(hex_apdu))
    assert "31323334" not in text
    assert "39383736" not in text
    assert "redacted" in text


def test_redaction_keeps_other_commands() -> None:
    assert redact_apdu(bytes.fromhex(SELECT_JPKI)) == SELECT_JPKI
