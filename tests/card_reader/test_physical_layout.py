"""The emulated card has a physical card's files (docs/card.md): fixed-size EFs padded with FF,
the 17-byte My Number, the 基本4情報 as one block, every PIN's status, the 入力補助AP's signed
attributes, the 券面AP, the signing certificate's attributes; and the face card's PINs."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from PIL import Image

from card_reader.core.apdu import SW
from card_reader.core.cvc import decode_cvc
from card_reader.core.errors import MalformedResponse, PinError, PinNotIssued
from card_reader.core.jpki import JpkiFile, JpkiSession
from card_reader.core.kenhojo import KenhojoFile, KenhojoSession
from card_reader.core.kenmen import KenmenSession, pin_b
from card_reader.emulator.card import EmulatedCard, raw_pkcs1_v15_sign
from card_reader.emulator.image import CardImage, CardKind, load_image
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from card_reader.transports.inprocess import InProcessConnection

SELECT_JPKI = "00A4040C0AD392F000260100000001"
SELECT_KENHOJO = "00A4040C0AD3921000310001010408"
SELECT_KENMEN = "00A4040C0AD3921000310001010402"
JP2_SIGNATURE = bytes.fromhex("0000000C6A5020200D0A870A")


def apdu(card: EmulatedCard, *hex_apdus: str) -> bytes:
    response = b""
    for hex_apdu in hex_apdus:
        response = card.process(bytes.fromhex(hex_apdu))
    return response


def select_ef(fid: str) -> str:
    return f"00A4020C02{fid}"


@pytest.fixture
def resident(resident_list: list[Resident]) -> Resident:
    return resident_list[0]  # yamada-taro, the holder of `card`


def test_the_my_number_file_is_17_bytes_ff10_tagged(card: EmulatedCard, resident: Resident) -> None:
    response = apdu(
        card,
        SELECT_KENHOJO,
        select_ef("0011"),
        "0020008004" + b"1234".hex(),
        select_ef("0001"),
        "00B0000011",
    )
    assert response[-2:] == b"\x90\x00"
    assert response[:-2] == b"\xff\x10\x0c" + resident.my_number.encode() + b"\xff\xff"
    beyond = apdu(card, "00B0000012")
    assert beyond[-2:].hex() == "6282" and len(beyond) == 17 + 2
    assert apdu(card, "00B0001101")[-2:].hex() == "6b00"


def test_basic_info_reads_as_one_256_byte_block(card: EmulatedCard, resident: Resident) -> None:
    response = apdu(
        card,
        SELECT_KENHOJO,
        select_ef("0011"),
        "0020008004" + b"1234".hex(),
        select_ef("0002"),
        "00B0000000",
    )
    assert response[-2:] == b"\x90\x00"
    block = response[:-2]
    assert len(block) == 256
    assert block[:2] == b"\xff\x20"
    extra = block[2] & 0x7F if block[2] >= 0x80 else 0  # long-form length bytes
    header = 3 + extra
    length = int.from_bytes(block[3:header], "big") if extra else block[2]
    total = header + length
    assert set(block[total:]) == {0xFF}
    # DF21 gives each item's offset from the start of the file
    assert block[header : header + 3] == bytes.fromhex("DF2108")
    index = block[header + 3 : header + 11]
    offsets = [int.from_bytes(index[2 * i : 2 * i + 2], "big") for i in range(4)]
    assert [block[o : o + 2].hex() for o in offsets] == ["df22", "df23", "df24", "df25"]
    name_at = offsets[0]
    name = block[name_at + 3 : name_at + 3 + block[name_at + 2]].decode()
    assert name == resident.name


PINS = [
    (SELECT_JPKI, "0018", 3),
    (SELECT_JPKI, "001B", 5),
    (SELECT_KENHOJO, "0011", 3),
    (SELECT_KENHOJO, "0014", 10),
    (SELECT_KENHOJO, "0015", 10),
    (SELECT_KENMEN, "0013", 10),
    (SELECT_KENMEN, "0012", 10),
]


@pytest.mark.parametrize(("application", "fid", "tries"), PINS)
def test_every_pin_answers_an_empty_verify_without_spending(
    card: EmulatedCard, application: str, fid: str, tries: int
) -> None:
    for _ in range(3):
        assert apdu(card, application, select_ef(fid), "00200080").hex().upper() == (
            f"63C{tries:X}"
        )


def test_number_a_opens_the_my_number_and_b_the_four_items(
    card: EmulatedCard, resident: Resident
) -> None:
    number_a = resident.my_number.encode().hex()
    apdu(card, SELECT_KENHOJO, select_ef("0014"), f"002000800C{number_a}")
    assert apdu(card, select_ef("0001"), "00B0000011")[-2:].hex() == "9000"
    assert apdu(card, select_ef("0002"), "00B0000005")[-2:].hex() == "6982"
    card.reset()
    assert (
        apdu(card, SELECT_KENHOJO, select_ef("0014"), "0020008004" + b"0000".hex())[-2:].hex()
        == "63c9"
    )


def test_the_attributes_verify_against_the_signer_certificate(
    connection: InProcessConnection, resident: Resident
) -> None:
    session = KenhojoSession(connection)
    session.verify_pin("1234")
    my_number, basic = session.read_verified_attributes()
    assert my_number == resident.my_number
    assert basic.birth_date == resident.birth_date
    certificate = session.read_signer_certificate()
    assert len(certificate) == 568  # an RSA-2048 CV certificate fills the physical card's EF
    signer = decode_cvc(certificate)
    signer.verify(signer.public_key)  # self-certified by the test issuer
    info = session.read_ap_info()
    assert len(info) == 256 and info[:2] == b"\xff\x40"


def test_a_changed_attribute_fails_the_signature(card_path: Path) -> None:
    image = load_image(card_path)
    files = dict(image.kenhojo_files)
    files[KenhojoFile.BASIC_INFO] = files[KenhojoFile.BASIC_INFO].replace(b"1980", b"1981")
    altered = replace(image, kenhojo_files=files)
    session = KenhojoSession(InProcessConnection(EmulatedCard(altered)))
    session.verify_pin("1234")
    with pytest.raises(MalformedResponse, match="4 items are not the ones the issuer signed"):
        session.read_verified_attributes()


def test_the_card_face_opens_to_either_number(
    connection: InProcessConnection, issuer: Issuer, resident: Resident
) -> None:
    session = KenmenSession(connection)
    session.verify_pin_a(resident.my_number)
    face = session.read_face()
    assert face.birth_date == resident.birth_date
    assert face.photo.startswith(JP2_SIGNATURE)
    assert Image.open(io.BytesIO(face.photo)).size == (96, 120)
    assert Image.open(io.BytesIO(face.name_image)).mode == "1"
    # DF28: PKCS#1 v1.5 over a DigestInfo of three SHA-256 digests, by the attribute signer
    signer = issuer.attribute_signer.key.public_key()
    digest_info = face.signed_digest_info()
    assert len(digest_info) == 2 + 0x71 and digest_info[-98:-96] == b"\x04\x60"
    expected = raw_pkcs1_v15_sign(issuer.attribute_signer.key.private_numbers(), digest_info)
    assert face.signature == expected
    signer.recover_data_from_signature(face.signature, padding.PKCS1v15(), None)


def test_number_b_is_the_wareki_birth_date_the_expiry_year_and_the_code() -> None:
    # as read off a physical card: born 1980-02-17 (昭和55年), expiring 2035, code 2285
    assert pin_b(dt.date(1980, 2, 17), dt.date(2035, 2, 17), "2285") == "55021720352285"
    assert pin_b(dt.date(2019, 5, 1), dt.date(2030, 5, 1), "0001") == "01050120300001"  # 令和元年


def test_number_b_opens_the_card_face(issuer: Issuer, resident: Resident) -> None:
    path, entry = issuer.issue_card(
        resident.model_copy(update={"label": "with-code"}), pin="1234", security_code="2285"
    )
    card = EmulatedCard(load_image(path))
    session = KenmenSession(InProcessConnection(card))
    expiry = dt.date.fromisoformat(entry.card_expires_on)
    with pytest.raises(PinError):
        session.verify_pin_b(resident.birth_date, expiry, "2286")
    session.verify_pin_b(resident.birth_date, expiry, "2285")
    assert session.read_face().expiry == expiry
    assert session.pin_statuses() == {"0013": 10, "0012": 10}  # a success restores the count


def test_the_signing_certificate_carries_the_attributes(
    card: EmulatedCard, resident: Resident
) -> None:
    der = card.image.jpki_files[JpkiFile.SIGN_CERT]
    # read with asn1crypto, an independent parser
    names = asn1_x509.Certificate.load(der).subject_alt_name_value
    assert names is not None
    others = [(n.chosen["type_id"].dotted, n.chosen["value"].parsed.native) for n in names]
    assert [oid for oid, _ in others] == [f"1.2.392.200149.8.5.5.{i}" for i in (1, 4, 3, 5, 2, 6)]
    values = dict(others)
    assert values["1.2.392.200149.8.5.5.1"] == resident.name
    assert values["1.2.392.200149.8.5.5.4"] == "3" + resident.birth_date.strftime("%Y%m%d")
    assert values["1.2.392.200149.8.5.5.3"] == resident.sex
    assert values["1.2.392.200149.8.5.5.5"] == resident.address
    auth = x509.load_der_x509_certificate(card.image.jpki_files[JpkiFile.AUTH_CERT])
    with pytest.raises(x509.ExtensionNotFound):
        auth.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_the_token_information_is_a_160_byte_token_info(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    assert session.token_name() == "JPKIAPICCTOKEN2"
    assert session.pin_statuses() == {"0018": 3, "001B": 5}


# --- images ---------------------------------------------------------------------------


def test_an_image_of_the_old_format_says_how_to_reissue(card_path: Path) -> None:
    doc = json.loads(card_path.read_text())
    doc["format"] = "onshi-card-image/1"
    with pytest.raises(ValueError, match=r"^K1002: .*old format .*issue the card again .*fixtures"):
        CardImage.from_json(json.dumps(doc))


def test_an_unknown_kind_and_a_truncated_image_are_refused(card_path: Path) -> None:
    doc = json.loads(card_path.read_text())
    with pytest.raises(ValueError, match=r"^K1003: unknown card kind 'watch'"):
        CardImage.from_json(json.dumps({**doc, "kind": "watch"}))
    with pytest.raises(ValueError, match=r"^K1004: malformed card image"):
        CardImage.from_json(card_path.read_text()[:1000])
    with pytest.raises(ValueError, match=r"^K1001: not a card image"):
        CardImage.from_json("[]")
    with pytest.raises(ValueError, match=r"^K1004: malformed card image"):
        CardImage.from_json(json.dumps({**doc, "atr": "not hex"}))
    with pytest.raises(ValueError, match=r"^K1005: a card image lacks secrets: auth_pin"):
        CardImage.from_json(json.dumps({**doc, "pins": {}}))


def test_content_larger_than_its_ef_is_refused(card_path: Path) -> None:
    image = load_image(card_path)
    files = {**image.kenhojo_files, KenhojoFile.MY_NUMBER: bytes(18)}
    with pytest.raises(ValueError, match=r"^K1006: .*KENHOJO EF 0001 holds 18 bytes of 17"):
        EmulatedCard(replace(image, kenhojo_files=files))


# --- the 顔認証マイナンバーカード ----------------------------------------------------------------


@pytest.fixture
def face_card(issuer: Issuer, resident: Resident) -> EmulatedCard:
    face_resident = resident.model_copy(update={"label": "face-only", "card": "face_card"})
    path, _ = issuer.issue_card(face_resident, pin=None)
    image = load_image(path)
    assert image.kind is CardKind.FACE_CARD
    return EmulatedCard(image)


def test_a_face_card_reports_its_pins_as_used_up_and_refuses_them(face_card: EmulatedCard) -> None:
    for application, fid in (
        (SELECT_JPKI, "0018"),
        (SELECT_JPKI, "001B"),
        (SELECT_KENHOJO, "0011"),
    ):
        assert apdu(face_card, application, select_ef(fid), "00200080").hex() == "63c0"
        assert apdu(face_card, "0020008004" + b"1234".hex())[
            -2:
        ] == SW.AUTH_METHOD_BLOCKED.to_bytes(2, "big")
    session = JpkiSession(InProcessConnection(face_card))
    with pytest.raises(PinNotIssued, match="issued without a PIN"):
        session.verify_auth_pin("1234")
    assert session.read_auth_certificate() == face_card.image.jpki_files[JpkiFile.AUTH_CERT]
    assert apdu(face_card, SELECT_JPKI, select_ef("0001")).hex() == "6a82"  # no signing certificate


def test_a_face_card_shows_its_face_to_the_reader(
    face_card: EmulatedCard, resident: Resident
) -> None:
    session = KenmenSession(InProcessConnection(face_card))
    session.verify_pin_a(resident.my_number)
    assert session.read_face().photo.startswith(JP2_SIGNATURE)
