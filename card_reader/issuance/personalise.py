"""Write a resident's card: both applications' files, keys and secrets. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from card_reader.core.jpki import (
    TOKEN_INFO_SIZE,
    JpkiFile,
    validate_auth_pin,
    validate_sign_password,
)
from card_reader.core.kenhojo import BasicInfo, KenhojoFile, encode_my_number
from card_reader.emulator.image import MAX_TRIES, CardImage, PinState, Secret

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    from card_reader.issuance.residents import Resident

TOKEN_INFO = b"JPKIAPICCTOKEN2".ljust(TOKEN_INFO_SIZE, b" ")


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def personalise(
    resident: Resident,
    *,
    auth_key: rsa.RSAPrivateKey,
    auth_certificate: x509.Certificate,
    auth_ca_certificate: x509.Certificate,
    sign_key: rsa.RSAPrivateKey,
    sign_certificate: x509.Certificate,
    sign_ca_certificate: x509.Certificate,
    pin: str,
    sign_password: str,
) -> CardImage:
    """The image of a freshly issued card. The 券面事項入力補助AP gets the same PIN."""
    pin_bytes = validate_auth_pin(pin)
    basic = BasicInfo(
        name=resident.name,
        address=resident.address,
        birth_date=resident.birth_date,
        sex=resident.sex,
    )
    return CardImage(
        label=resident.label,
        jpki_files={
            JpkiFile.AUTH_CERT: auth_certificate.public_bytes(Encoding.DER),
            JpkiFile.AUTH_CA_CERT: auth_ca_certificate.public_bytes(Encoding.DER),
            JpkiFile.SIGN_CERT: sign_certificate.public_bytes(Encoding.DER),
            JpkiFile.SIGN_CA_CERT: sign_ca_certificate.public_bytes(Encoding.DER),
            JpkiFile.TOKEN_INFO: TOKEN_INFO,
        },
        kenhojo_files={
            KenhojoFile.MY_NUMBER: encode_my_number(resident.my_number),
            KenhojoFile.BASIC_INFO: basic.encode(),
        },
        auth_key_pem=key_pem(auth_key),
        sign_key_pem=key_pem(sign_key),
        pins={
            Secret.AUTH_PIN: PinState.create(pin_bytes, MAX_TRIES[Secret.AUTH_PIN]),
            Secret.SIGN_PASSWORD: PinState.create(
                validate_sign_password(sign_password), MAX_TRIES[Secret.SIGN_PASSWORD]
            ),
            Secret.KENHOJO_PIN: PinState.create(pin_bytes, MAX_TRIES[Secret.KENHOJO_PIN]),
        },
    )
