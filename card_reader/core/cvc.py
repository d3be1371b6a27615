"""Card-verifiable certificates, as the 入力補助AP's EF 0004 holds the certificate of the key
that signed the card's attributes (docs/card.md). No I/O.

The layout, as read off a physical card (568 bytes: an RSA-2048 key and an RSA-2048 signature
fit in this compact form, not in X.509): `7F21` { `5F4E` body { the issuing key's 16-byte
identifier, the certified key's 16-byte identifier (both bare, without tags), `90` the public
exponent, `91` the modulus }, `5F37` the issuing key's signature }. The signature is
RSASSA-PKCS1-v1_5 SHA-256 over the body TLV [chosen: what a physical card's is over is not
published].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader.core.tlv import TlvError, encode_tlv, first_tlv, iter_tlvs

if TYPE_CHECKING:
    from collections.abc import Callable

TAG_CERTIFICATE, TAG_BODY, TAG_SIGNATURE = 0x7F21, 0x5F4E, 0x5F37
TAG_EXPONENT, TAG_MODULUS = 0x90, 0x91
KEY_ID_LENGTH = 16


class CvcError(ValueError):
    """Bytes that are not a CV certificate of this layout, or whose signature fails."""


@dataclass(frozen=True, slots=True)
class CvCertificate:
    issuer_key_id: bytes
    subject_key_id: bytes
    public_key: rsa.RSAPublicKey
    body: bytes  # the encoded 5F4E TLV: what the signature covers
    signature: bytes

    def verify(self, issuer_key: rsa.RSAPublicKey) -> None:
        """Raise `CvcError` unless `issuer_key` signed this certificate."""
        try:
            issuer_key.verify(self.signature, self.body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise CvcError("the certificate's signature does not verify") from None


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_cvc(
    public_key: rsa.RSAPublicKey,
    *,
    issuer_key_id: bytes,
    subject_key_id: bytes,
    sign: Callable[[bytes], bytes],
) -> bytes:
    """A CV certificate for `public_key`, its body signed by `sign` (the issuing key's
    RSASSA-PKCS1-v1_5 SHA-256)."""
    if len(issuer_key_id) != KEY_ID_LENGTH or len(subject_key_id) != KEY_ID_LENGTH:
        raise ValueError(f"key identifiers are {KEY_ID_LENGTH} bytes")
    numbers = public_key.public_numbers()
    body = encode_tlv(
        TAG_BODY,
        issuer_key_id
        + subject_key_id
        + encode_tlv(TAG_EXPONENT, _int_bytes(numbers.e))
        + encode_tlv(TAG_MODULUS, _int_bytes(numbers.n)),
    )
    return encode_tlv(TAG_CERTIFICATE, body + encode_tlv(TAG_SIGNATURE, sign(body)))


def decode_cvc(data: bytes) -> CvCertificate:
    """Parse a CV certificate (padding after it is ignored). Raises `CvcError`."""
    try:
        tag, value = first_tlv(data)
        if tag != TAG_CERTIFICATE:
            raise CvcError(f"expected tag 7F21, got {tag:X}")
        parts = list(iter_tlvs(value))
        if [t for t, _ in parts] != [TAG_BODY, TAG_SIGNATURE]:
            raise CvcError("a CV certificate holds a body (5F4E) and a signature (5F37)")
        body_value, signature = parts[0][1], parts[1][1]
        ids, key_tlvs = body_value[: 2 * KEY_ID_LENGTH], body_value[2 * KEY_ID_LENGTH :]
        key_fields = dict(iter_tlvs(key_tlvs))
        public_key = rsa.RSAPublicNumbers(
            int.from_bytes(key_fields[TAG_EXPONENT], "big"),
            int.from_bytes(key_fields[TAG_MODULUS], "big"),
        ).public_key()
    except CvcError:
        raise
    except TlvError as exc:
        raise CvcError(f"malformed CV certificate: {exc}") from None
    except KeyError as exc:
        raise CvcError(f"the CV certificate lacks {exc.args[0]:X}") from None
    except ValueError as exc:  # an RSA key that is none
        raise CvcError(f"the CV certificate's key is not an RSA key: {exc}") from None
    return CvCertificate(
        issuer_key_id=ids[:KEY_ID_LENGTH],
        subject_key_id=ids[KEY_ID_LENGTH:],
        public_key=public_key,
        body=encode_tlv(TAG_BODY, body_value),
        signature=signature,
    )
