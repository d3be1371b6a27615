"""Proof that the card is present. No I/O.

PIN mode: the card signed SHA-256(challenge) with its auth key after VERIFY PIN
(RSASSA-PKCS1-v1_5), checked against the validated certificate.

Face and visual mode (unconfirmed in the real system; docs/domain.md): the clinic's registered
reader device signs, with its Ed25519 key, `FACE_PROOF_CONTEXT ‖ challenge ‖ SHA-256(card
certificate DER) ‖ method`, so the proof names the card it saw and how it checked the person.
A failed face match is reported under its own context (`face_failure_message`), so a report
is never a proof, nor a proof a report.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from qualification_server.contract.presence import Method, device_message, face_failure_message
from qualification_server.errors import Code, QualificationError

__all__ = [
    "Method",
    "decode_b64",
    "device_message",
    "face_failure_message",
    "verify_card_signature",
    "verify_device_signature",
    "verify_face_failure_signature",
]

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa


def decode_b64(value: str, what: str) -> bytes:
    """Standard or URL-safe base64. Raises `QualificationError(INVALID_REQUEST)`."""
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise QualificationError(Code.INVALID_REQUEST, f"{what} is not base64") from None


def verify_card_signature(public_key: rsa.RSAPublicKey, challenge: bytes, signature: bytes) -> None:
    """Raise `QualificationError(PROOF_INVALID)` unless the card signed this challenge."""
    try:
        public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise QualificationError(Code.PROOF_INVALID, "the card signature does not verify") from None


def verify_device_signature(
    device_key: bytes, challenge: bytes, certificate_der: bytes, method: Method, signature: bytes
) -> None:
    """Raise `QualificationError(PROOF_INVALID)` unless the device signed this check."""
    _verify_ed25519(device_key, device_message(challenge, certificate_der, method), signature)


def verify_face_failure_signature(
    device_key: bytes, challenge: bytes, certificate_der: bytes, signature: bytes
) -> None:
    """Raise `QualificationError(PROOF_INVALID)` unless the device signed this failed face
    match of this card."""
    _verify_ed25519(device_key, face_failure_message(challenge, certificate_der), signature)


def _verify_ed25519(device_key: bytes, message: bytes, signature: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(device_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise QualificationError(
            Code.PROOF_INVALID, "the device signature does not verify"
        ) from None
