"""The JPKI application (公的個人認証AP) of the My Number card (docs/card.md).

`JpkiSession` selects the application and offers its verbs: read the certificates, tell the
PIN tries left, verify the PIN and sign with the user-authentication key.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from card_reader.core.errors import MalformedResponse, SecurityStatusNotSatisfied
from card_reader.core.iso7816 import IsoChannel

if TYPE_CHECKING:
    from card_reader.core.connection import CardConnection

AID_JPKI = bytes.fromhex("D392F000260100000001")

# DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1); the card adds PKCS#1 v1.5 padding.
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")
SHA256_DIGEST_SIZE = 32
SIGNATURE_SIZE = 256  # RSA-2048 (docs/card.md, signing)

AUTH_PIN_LENGTH = 4
SIGN_PASSWORD_MIN, SIGN_PASSWORD_MAX = 6, 16


class JpkiFile(IntEnum):
    """Elementary files of the JPKI AP (docs/card.md, its files)."""

    SIGN_CERT = 0x0001
    SIGN_CA_CERT = 0x0002
    TOKEN_INFO = 0x0006
    AUTH_CERT = 0x000A
    AUTH_CA_CERT = 0x000B
    AUTH_KEY = 0x0017
    AUTH_PIN = 0x0018
    SIGN_KEY = 0x001A
    SIGN_PASSWORD = 0x001B


TOKEN_INFO_SIZE = 32  # the token's name, space-padded, at the start of EF 0006
# The token names tell a card from a smartphone (docs/card.md, the kinds of card).
# Android's スマホ用電子証明書 names itself TOKEN_ANDROID: its auth certificate needs the PIN.
TOKEN_CARD = "JPKIAPICCTOKEN2"  # noqa: S105 -- a token's name, not a password
TOKEN_ANDROID = "JPKIAPGPSETOKEN"  # noqa: S105
# The EFs' sizes on a physical card [chosen: certificates 2 KiB each, larger than any of the
# profile's; the token information 160 bytes, as measured on a card].
CERTIFICATE_FILE_SIZE = 0x0800
TOKEN_INFO_FILE_SIZE = 160


def validate_auth_pin(pin: str) -> bytes:
    """The auth PIN as VERIFY sends it: exactly 4 ASCII digits. Raises ValueError."""
    if len(pin) != AUTH_PIN_LENGTH or not (pin.isascii() and pin.isdigit()):
        raise ValueError("the PIN must be exactly 4 digits")
    return pin.encode("ascii")


def validate_sign_password(password: str) -> bytes:
    """The signing password: 6–16 upper-case letters and digits. Raises ValueError."""
    ok_chars = password.isascii() and all(c.isdigit() or c.isupper() for c in password)
    if not (SIGN_PASSWORD_MIN <= len(password) <= SIGN_PASSWORD_MAX and ok_chars):
        raise ValueError("the signing password must be 6-16 upper-case letters and digits")
    return password.encode("ascii")


def sha256_digest_info(digest: bytes) -> bytes:
    """DigestInfo for a SHA-256 digest, as COMPUTE DIGITAL SIGNATURE expects it."""
    if len(digest) != SHA256_DIGEST_SIZE:
        raise ValueError(f"a SHA-256 digest has 32 bytes, got {len(digest)}")
    return SHA256_DIGEST_INFO_PREFIX + digest


class JpkiSession:
    """A session with the JPKI AP. The constructor selects it (`ApplicationNotFound` if absent)."""

    def __init__(self, connection: CardConnection) -> None:
        self._iso = IsoChannel(connection)
        self._iso.select_application(AID_JPKI)

    def _read_certificate(self, fid: JpkiFile) -> bytes:
        self._iso.select_file(fid)
        return self._iso.read_der_object()

    def read_auth_certificate(self) -> bytes:
        """The user-authentication certificate (DER). Free to read."""
        return self._read_certificate(JpkiFile.AUTH_CERT)

    def read_auth_ca_certificate(self) -> bytes:
        """The certificate of the CA that issued the auth certificate (DER)."""
        return self._read_certificate(JpkiFile.AUTH_CA_CERT)

    def read_sign_ca_certificate(self) -> bytes:
        """The certificate of the CA that issued the signing certificate (DER)."""
        return self._read_certificate(JpkiFile.SIGN_CA_CERT)

    def read_sign_certificate(self, password: str) -> bytes:
        """The signing certificate (DER): it holds the 4 basic facts, so it needs the password."""
        secret = validate_sign_password(password)
        self._iso.select_file(JpkiFile.SIGN_PASSWORD)
        self._iso.verify(secret)
        return self._read_certificate(JpkiFile.SIGN_CERT)

    def read_token_info(self) -> bytes:
        """The token information file (`JPKIAPICCTOKEN…` on a physical card)."""
        self._iso.select_file(JpkiFile.TOKEN_INFO)
        return self._iso.read_file(TOKEN_INFO_SIZE)

    def token_name(self) -> str:
        """The token's name: `JPKIAPICCTOKEN2` on a card, `JPKIAPGPSETOKEN` on an Android
        phone (whose auth certificate can only be read after the PIN)."""
        return self.read_token_info().rstrip(b" \x00\xff").decode("ascii", "replace")

    def pin_statuses(self) -> dict[str, int]:
        """Tries left for the auth PIN and the signing password, by EF, without spending one."""
        return {
            f"{JpkiFile.AUTH_PIN:04X}": self.auth_pin_tries_left(),
            f"{JpkiFile.SIGN_PASSWORD:04X}": self.sign_password_tries_left(),
        }

    def auth_pin_tries_left(self) -> int:
        """Tries left for the auth PIN, without spending one."""
        self._iso.select_file(JpkiFile.AUTH_PIN)
        return self._iso.tries_left()

    def sign_password_tries_left(self) -> int:
        """Tries left for the signing password, without spending one."""
        self._iso.select_file(JpkiFile.SIGN_PASSWORD)
        return self._iso.tries_left()

    def verify_auth_pin(self, pin: str) -> None:
        """VERIFY the auth PIN. Raises `PinError(tries_left)` or `PinBlocked`."""
        secret = validate_auth_pin(pin)
        self._iso.select_file(JpkiFile.AUTH_PIN)
        self._iso.verify(secret)

    def change_auth_pin(self, current: str, new: str) -> None:
        """Change the auth PIN (VERIFY with the current one, then CHANGE REFERENCE DATA)."""
        new_secret = validate_auth_pin(new)
        self.verify_auth_pin(current)
        self._iso.change_reference_data(new_secret)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a SHA-256 digest with the auth key (PKCS#1 v1.5). Needs `verify_auth_pin` first."""
        digest_info = sha256_digest_info(digest)
        self._iso.select_file(JpkiFile.AUTH_KEY)
        signature = self._iso.compute_digital_signature(digest_info)
        if len(signature) != SIGNATURE_SIZE:
            raise MalformedResponse(
                f"the signature has {len(signature)} bytes, not the {SIGNATURE_SIZE} of RSA-2048"
            )
        return signature

    def authenticate(self, pin: str, digest: bytes) -> bytes:
        """VERIFY the PIN, then sign `digest`: the card's proof of presence."""
        self.verify_auth_pin(pin)
        return self.sign_digest(digest)

    def prove_presence(self, pin: str, digest: bytes) -> tuple[bytes, bytes]:
        """The auth certificate and the signature of `digest` after VERIFY PIN, from a card
        or a smartphone: a card's certificate is free to read, so it is read first; a
        smartphone's answers `69 82` until the PIN is verified, and is read after it. A card
        costs no command more than reading and `authenticate`."""
        try:
            certificate = self.read_auth_certificate()
        except SecurityStatusNotSatisfied:
            self.verify_auth_pin(pin)
            return self.read_auth_certificate(), self.sign_digest(digest)
        return certificate, self.authenticate(pin, digest)
