"""Personal data kept for a while (a batch's queries and answers) is stored sealed: AES-256-GCM
under a key derived from a service secret, bound to where it is stored, so that a database
dump holds no name or birth date in the clear and a sealed value moved to another row does
not open."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class SealBroken(Exception):
    """A sealed value that does not open: another key, another place, or altered."""


class Sealer:
    """Seals and opens values for one purpose; `purpose` separates the keys of different
    uses of the same secret."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"onshi seal/{purpose}".encode()
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, place: bytes) -> bytes:
        """`plaintext` sealed for `place` (e.g. a row's key): nonce ‖ ciphertext ‖ tag."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, place)

    def open(self, sealed: bytes, place: bytes) -> bytes:
        """What `seal` sealed for `place`; `SealBroken` otherwise."""
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], place)
        except (InvalidTag, ValueError):
            raise SealBroken("the sealed value does not open here") from None
