"""Write a resident's card (or phone): its applications' files, keys and secrets. Pure.

A physical card (docs/card.md) has the JPKI AP, the 入力補助AP (the My Number and the 4 items,
signed by the issuer's attribute key, with that key's certificate) and the 券面AP (the card
face, signed by the same key). A 顔認証マイナンバーカード has the same files but no PINs and
no signing certificate; a smartphone has the JPKI AP alone.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from card_reader.core.jpki import (
    TOKEN_ANDROID,
    TOKEN_CARD,
    JpkiFile,
    validate_auth_pin,
    validate_sign_password,
)
from card_reader.core.kenhojo import (
    BasicInfo,
    KenhojoFile,
    encode_ap_info,
    encode_my_number,
    encode_signature_file,
)
from card_reader.core.kenmen import CardFace, KenmenFile, pin_b
from card_reader.emulator.card import raw_pkcs1_v15_sign
from card_reader.emulator.image import (
    CONTACTLESS_ATR,
    DEFAULT_ATR,
    MAX_TRIES,
    CardImage,
    CardKind,
    PinState,
    Secret,
)
from card_reader.issuance.faces import face_photo, text_image

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    from card_reader.issuance.residents import Resident

SECURITY_CODE_DIGITS = 4


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@dataclass(frozen=True, slots=True)
class AttributeSigner:
    """The issuer's key that signs a card's attributes and face, and its CV certificate."""

    key: rsa.RSAPrivateKey
    key_id: bytes
    certificate: bytes

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign_digest_info(self, digest_info: bytes) -> bytes:
        """PKCS#1 v1.5 over a DigestInfo built by the caller (the card face's)."""
        return raw_pkcs1_v15_sign(self.key.private_numbers(), digest_info)


def token_info(kind: CardKind, serial: str) -> bytes:
    """EF 0006 as PKCS#11's CK_TOKEN_INFO (160 bytes): the label tells a card from a phone."""
    label = TOKEN_ANDROID if kind is CardKind.SMARTPHONE else TOKEN_CARD

    def text(value: str, size: int) -> bytes:
        return value.encode("ascii").ljust(size, b" ")

    numbers = (0x40D, 1, 0, 1, 0, 16, 6, *(0xFFFFFFFF,) * 4)
    return (
        text(label, 32)
        + text("onshi test issuer", 32)
        + text("ONSHI-EMULATED", 16)
        + text(serial, 16)
        + b"".join(n.to_bytes(4, "big") for n in numbers)
        + bytes((3, 0, 1, 0))
        + text("", 16)
    )


def personalise(
    resident: Resident,
    *,
    kind: CardKind = CardKind.CARD,
    auth_key: rsa.RSAPrivateKey,
    auth_certificate: x509.Certificate,
    auth_ca_certificate: x509.Certificate,
    sign_key: rsa.RSAPrivateKey | None,
    sign_certificate: x509.Certificate | None,
    sign_ca_certificate: x509.Certificate,
    pin: str | None,
    sign_password: str | None,
    card_expires_on: dt.date,
    attribute_signer: AttributeSigner,
    security_code: str | None = None,
) -> CardImage:
    """The image of a freshly issued card or phone. The 入力補助AP gets the same PIN."""
    jpki_files: dict[int, bytes] = {
        JpkiFile.AUTH_CERT: auth_certificate.public_bytes(Encoding.DER),
        JpkiFile.AUTH_CA_CERT: auth_ca_certificate.public_bytes(Encoding.DER),
        JpkiFile.SIGN_CA_CERT: sign_ca_certificate.public_bytes(Encoding.DER),
        JpkiFile.TOKEN_INFO: token_info(kind, f"{auth_certificate.serial_number:X}"[-16:]),
    }
    if sign_certificate is not None:
        jpki_files[JpkiFile.SIGN_CERT] = sign_certificate.public_bytes(Encoding.DER)
    pins: dict[Secret, PinState] = {}
    if kind is not CardKind.FACE_CARD:
        if pin is None or sign_password is None:
            raise ValueError(f"a {kind.value} is issued with a PIN and a signing password")
        pin_bytes = validate_auth_pin(pin)
        pins[Secret.AUTH_PIN] = PinState.create(pin_bytes, MAX_TRIES[Secret.AUTH_PIN])
        pins[Secret.SIGN_PASSWORD] = PinState.create(
            validate_sign_password(sign_password), MAX_TRIES[Secret.SIGN_PASSWORD]
        )
        if kind is CardKind.CARD:
            pins[Secret.KENHOJO_PIN] = PinState.create(pin_bytes, MAX_TRIES[Secret.KENHOJO_PIN])
    kenhojo_files: dict[int, bytes] = {}
    kenmen_files: dict[int, bytes] = {}
    if kind is not CardKind.SMARTPHONE:
        code = security_code or "".join(
            secrets.choice("0123456789") for _ in range(SECURITY_CODE_DIGITS)
        )
        kenhojo_files, kenmen_files = _card_face_files(
            resident, card_expires_on, attribute_signer, code
        )
        number_a = resident.my_number.encode("ascii")
        number_b = pin_b(resident.birth_date, card_expires_on, code).encode("ascii")
        for secret, value in (
            (Secret.KENHOJO_PIN_A, number_a),
            (Secret.KENHOJO_PIN_B, number_b),
            (Secret.KENMEN_PIN_A, number_a),
            (Secret.KENMEN_PIN_B, number_b),
        ):
            pins[secret] = PinState.create(value, MAX_TRIES[secret])
    return CardImage(
        label=resident.label if kind is not CardKind.SMARTPHONE else f"{resident.label}-phone",
        kind=kind,
        atr=CONTACTLESS_ATR if kind is CardKind.SMARTPHONE else DEFAULT_ATR,
        jpki_files=jpki_files,
        kenhojo_files=kenhojo_files,
        kenmen_files=kenmen_files,
        auth_key_pem=key_pem(auth_key),
        sign_key_pem=key_pem(sign_key) if sign_key is not None else b"",
        pins=pins,
    )


def _card_face_files(
    resident: Resident, card_expires_on: dt.date, signer: AttributeSigner, security_code: str
) -> tuple[dict[int, bytes], dict[int, bytes]]:
    """The 入力補助AP's and the 券面AP's files for a physical card."""
    basic = BasicInfo(
        name=resident.name,
        address=resident.address,
        birth_date=resident.birth_date,
        sex=resident.sex,
    )
    my_number_file = encode_my_number(resident.my_number)
    kenhojo: dict[int, bytes] = {
        KenhojoFile.MY_NUMBER: my_number_file,
        KenhojoFile.BASIC_INFO: basic.encode(),
        KenhojoFile.SIGNATURE: encode_signature_file(my_number_file, basic, signer.sign),
        KenhojoFile.SIGNER_CERT: signer.certificate,
        KenhojoFile.AP_INFO: encode_ap_info(signer.key_id),
    }
    face = CardFace(
        birth_date=resident.birth_date,
        sex=resident.sex,
        key_id=signer.key_id,
        name_image=text_image(resident.name),
        address_image=text_image(resident.address),
        photo=face_photo(resident.label),
        expiry=card_expires_on,
        security_code_image=text_image(security_code),
    )
    signed = replace(face, signature=signer.sign_digest_info(face.signed_digest_info()))
    return kenhojo, {KenmenFile.FACE: signed.encode()}
