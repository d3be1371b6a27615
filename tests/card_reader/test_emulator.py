"""The emulated card answers as docs/card.md says a JPKI card does, APDU by APDU."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import Secret, load_image, save_image

SELECT_JPKI = "00A4040C0AD392F000260100000001"
SELECT_KENHOJO = "00A4040C0AD3921000310001010408"


def sw(card: EmulatedCard, *hex_apdus: str) -> str:
    """Send each APDU; return the last status word as hex."""
    response = b""
    for hex_apdu in hex_apdus:
        response = card.process(bytes.fromhex(hex_apdu))
    return response[-2:].hex().upper()


def select_ef(fid: str) -> str:
    return f"00A4020C02{fid}"


@pytest.mark.parametrize(
    ("apdus", "expected"),
    [
        ([SELECT_JPKI], "9000"),
        ([SELECT_KENHOJO], "9000"),
        (["00A4040C0AD3921000310001010402"], "9000"),  # 券面AP
        (["00A4040C07A0000003080000"], "6A82"),  # PIV: unknown AIDs must not answer 9000
        (["00A4040C06A00000000101"], "6A82"),  # Muscle
        ([SELECT_JPKI, select_ef("000A")], "9000"),
        ([SELECT_JPKI, select_ef("1234")], "6A82"),
        ([select_ef("000A")], "6A82"),  # no application selected
        ([SELECT_JPKI, "00A4020C030001"], "6700"),
        ([SELECT_JPKI, "00A4080C02000A"], "6A86"),
        ([SELECT_JPKI, "00A4020402000A"], "6A86"),
        (["00B0000004"], "6986"),  # READ BINARY with no current EF
        ([SELECT_JPKI, select_ef("000A"), "00B0000004"], "9000"),
        ([SELECT_JPKI, select_ef("000A"), "00B07FFF10"], "6B00"),
        ([SELECT_JPKI, select_ef("000A"), "00B0080001"], "6B00"),  # at the EF's size
        ([SELECT_JPKI, select_ef("000A"), "00B007FF01"], "9000"),  # the last byte: padding
        ([SELECT_JPKI, select_ef("000A"), "00B0070000"], "9000"),  # past the certificate
        ([SELECT_JPKI, select_ef("000A"), "00B007FF02"], "6282"),  # across the EF's end
        ([SELECT_JPKI, select_ef("000A"), "00B0000000"], "9000"),
        ([SELECT_JPKI, select_ef("000A"), "00B00000"], "6700"),  # READ BINARY without Le
        ([SELECT_JPKI, select_ef("000A"), "00B0810004"], "6A81"),  # short EF id form
        ([SELECT_JPKI, select_ef("0006"), "00B0000040"], "9000"),  # inside the 160 bytes
        ([SELECT_JPKI, select_ef("0006"), "00B0008021"], "6282"),  # fewer bytes than Le
        ([SELECT_JPKI, select_ef("0001"), "00B0000004"], "6982"),  # sign cert: password first
        ([SELECT_JPKI, select_ef("0002"), "00B0000004"], "9000"),  # sign CA cert: free
        ([SELECT_JPKI, select_ef("0017"), "00B0000004"], "6981"),  # a key is never read
        ([SELECT_JPKI, select_ef("0018"), "00B0000004"], "6981"),
        ([SELECT_JPKI, select_ef("0018"), "00200080"], "63C3"),
        ([SELECT_JPKI, select_ef("001B"), "00200080"], "63C5"),
        ([SELECT_JPKI, select_ef("000A"), "00200080"], "6986"),  # VERIFY needs a PIN EF
        ([SELECT_JPKI, select_ef("0018"), "00200180"], "6A86"),
        ([SELECT_JPKI, select_ef("0017"), "802A00802201" + "00" * 33 + "00"], "6982"),
        ([SELECT_JPKI, select_ef("000A"), "802A0080020102" + "00"], "6986"),
        (["00C0000000"], "6D00"),
        (["0012000000"], "6D00"),
        (["80A4040C0AD392F000260100000001"], "6E00"),  # SELECT with a proprietary class
        (["002A0080020102"], "6E00"),  # COMPUTE DIGITAL SIGNATURE with CLA 00
        (["0CB0000004"], "6E00"),  # secure messaging
        (["00A4"], "6700"),
        ([""], "6700"),
        (["00A4040C05D392F000"], "6700"),
    ],
)
def test_status_words(card: EmulatedCard, apdus: list[str], expected: str) -> None:
    card.reset()
    assert sw(card, *apdus) == expected


def test_empty_verify_spends_no_try(card: EmulatedCard) -> None:
    for _ in range(5):
        assert sw(card, SELECT_JPKI, select_ef("0018"), "00200080") == "63C3"


def test_wrong_pin_counts_down_to_blocked(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"))
    assert sw(card, "002000800439393939") == "63C2"
    assert sw(card, "002000800439393939") == "63C1"
    assert sw(card, "002000800439393939") == "63C0"
    assert sw(card, "002000800431323334") == "6984"  # the right PIN no longer helps
    assert sw(card, "00200080") == "63C0"


def test_right_pin_restores_the_counter(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800439393939")
    assert sw(card, "002000800431323334") == "9000"
    assert sw(card, "00200080") == "63C3"


def test_blocked_pin_stays_blocked_after_restart(card_path: Path) -> None:
    card = EmulatedCard(load_image(card_path), on_change=lambda i: save_image(card_path, i))
    sw(card, SELECT_JPKI, select_ef("0018"))
    for _ in range(3):
        sw(card, "002000800439393939")
    restarted = EmulatedCard(load_image(card_path))
    assert sw(restarted, SELECT_JPKI, select_ef("0018"), "00200080") == "63C0"
    assert sw(restarted, "002000800431323334") == "6984"


def test_counters_are_per_secret(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800439393939")
    assert sw(card, select_ef("001B"), "00200080") == "63C5"
    assert sw(card, SELECT_KENHOJO, "00A4020C020011", "00200080") == "63C3"


def test_verification_belongs_to_the_selected_application(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800431323334")
    sw(card, SELECT_KENHOJO, SELECT_JPKI)
    signing = "802A008033" + "3031300D060960864801650304020105000420" + "00" * 32 + "00"
    assert sw(card, select_ef("0017"), signing) == "6982"


def test_reselecting_the_same_application_keeps_verification(card: EmulatedCard) -> None:
    """OpenSC reselects the JPKI AP between VERIFY and the signature."""
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800431323334", SELECT_JPKI)
    signing = "802A008033" + "3031300D060960864801650304020105000420" + "00" * 32 + "00"
    assert sw(card, select_ef("0017"), signing) == "9000"


def test_reset_forgets_verification(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800431323334")
    card.reset()
    signing = "802A008033" + "3031300D060960864801650304020105000420" + "00" * 32 + "00"
    assert sw(card, SELECT_JPKI, select_ef("0017"), signing) == "6982"


def test_oversized_digest_info_is_refused(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800431323334", select_ef("0017"))
    assert sw(card, "802A0080F6" + "00" * 246 + "00") == "6700"


def test_change_reference_data_needs_verification_and_a_valid_pin(card: EmulatedCard) -> None:
    sw(card, SELECT_JPKI, select_ef("0018"))
    assert sw(card, "002401800435363738") == "6982"
    assert sw(card, "002000800431323334") == "9000"
    assert sw(card, "0024018003353637") == "6A80"  # 3 digits
    assert sw(card, "002401800435363738") == "9000"
    assert sw(card, "002000800431323334") == "63C2"
    assert sw(card, "002000800435363738") == "9000"


def test_pins_are_not_stored_in_the_clear(card_path: Path) -> None:
    text = card_path.read_text()
    image = load_image(card_path)
    assert '"1234"' not in text
    assert "31323334" not in text
    assert image.pins[Secret.AUTH_PIN].matches(b"1234")


def test_both_signing_paths_give_the_same_signature(card_path: Path) -> None:
    """OpenSSL for SHA-256 DigestInfo, raw CRT for anything else: the same v1.5 result."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from card_reader.emulator.card import _pkcs1_v15_sign, raw_pkcs1_v15_sign

    key = load_pem_private_key(load_image(card_path).auth_key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    digest_info = bytes.fromhex("3031300D060960864801650304020105000420") + bytes(range(32))
    assert _pkcs1_v15_sign(key, digest_info) == raw_pkcs1_v15_sign(
        key.private_numbers(), digest_info
    )


def test_other_digest_infos_are_signed_too(card: EmulatedCard) -> None:
    sha1_info = "3021300906052B0E03021A05000414" + "00" * 20
    sw(card, SELECT_JPKI, select_ef("0018"), "002000800431323334", select_ef("0017"))
    response = card.process(bytes.fromhex("802A008023" + sha1_info + "00"))
    assert response[-2:] == b"\x90\x00"
    assert len(response) == 258
