"""Proof of presence on the wire: what a challenge is, and what a face or visual reader signs.

A challenge is `CHALLENGE_BYTES` long (its layout is the server's business; a client signs
it whole). In PIN mode the card signs SHA-256 of it. In face and visual mode (unconfirmed in
the real system; docs/domain.md) the clinic's registered reader signs, with its Ed25519 key,
`FACE_PROOF_CONTEXT ‖ challenge ‖ SHA-256(card certificate DER) ‖ method`. A face match
that failed is reported the same way, over a challenge of its own, with
`FACE_FAILURE_CONTEXT ‖ challenge ‖ SHA-256(card certificate DER)`: one failure counted per
challenge, for the card the reader saw, and never mistaken for a proof.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

# version 1 | purpose 1 | client 10 | issued 8 | expires 8 | id 16, then a 32-byte MAC
CHALLENGE_BYTES = 76

FACE_PROOF_CONTEXT = b"onshi-presence-proof/1\x00"
FACE_FAILURE_CONTEXT = b"onshi-face-failure/1\x00"
# A visual check also carries a 目視確認用パスコード the server issued to the clinic.
PASSCODE_DIGITS = 8
PASSCODE_PATTERN = f"^[0-9]{{{PASSCODE_DIGITS}}}$"


class Method(StrEnum):
    """How presence was proved; recorded with every check."""

    PIN = "pin"
    FACE = "face"
    VISUAL = "visual"
    INSURED_NUMBER = "insured-number"  # no card: the insured number printed on a card


def device_message(challenge: bytes, certificate_der: bytes, method: Method) -> bytes:
    """What a face/visual-check device signs."""
    if method not in (Method.FACE, Method.VISUAL):
        raise ValueError("device proofs are for face or visual checks")
    return (
        FACE_PROOF_CONTEXT
        + challenge
        + hashlib.sha256(certificate_der).digest()
        + method.value.encode("ascii")
    )


def face_failure_message(challenge: bytes, certificate_der: bytes) -> bytes:
    """What a face-check device signs to report that the face did not match the card's."""
    return FACE_FAILURE_CONTEXT + challenge + hashlib.sha256(certificate_der).digest()
