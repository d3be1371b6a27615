"""An emulated My Number card (or smartphone): the JPKI AP, the 券面事項入力補助AP and the 券面AP
with a physical card's files, as docs/card.md describes.

`EmulatedCard.process` turns a command APDU into a response APDU. It does no I/O: a changed
retry counter or PIN is handed to `on_change` so the caller can persist the image, which is
how a blocked card stays blocked after a restart. Every input gets an ISO status word.

Files have a physical card's fixed sizes: the content is followed by `FF` up to the size, a
READ BINARY inside the size answers `90 00`, one that crosses the end answers what is left
with `62 82`, and one that starts at or past the end `6B 00`. An application whose files the
image lacks (a smartphone's 入力補助AP and 券面AP) is not on the card (`6A 82`); a PIN whose
secret the image lacks (the face card's) answers an empty VERIFY `63 C0`, like a PIN locked at
issue, and a VERIFY with a PIN `69 83` [chosen].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from card_reader.core.apdu import SW, SW_COUNTER, CommandApdu, Ins, MalformedApdu
from card_reader.core.iso7816 import (
    CLA_ISO,
    CLA_PROPRIETARY,
    P1_NEW_REFERENCE_ONLY,
    P1_SELECT_BY_NAME,
    P1_SELECT_EF_UNDER_DF,
    P2_SPECIFIC_REFERENCE,
)
from card_reader.core.jpki import (
    AID_JPKI,
    CERTIFICATE_FILE_SIZE,
    SHA256_DIGEST_INFO_PREFIX,
    SHA256_DIGEST_SIZE,
    TOKEN_INFO_FILE_SIZE,
    JpkiFile,
    validate_auth_pin,
    validate_sign_password,
)
from card_reader.core.kenhojo import (
    AID_KENHOJO,
    AP_INFO_FILE_SIZE,
    BASIC_INFO_FILE_SIZE,
    MY_NUMBER_FILE_SIZE,
    PADDING,
    SIGNATURE_FILE_SIZE,
    SIGNER_CERT_FILE_SIZE,
    KenhojoFile,
)
from card_reader.core.kenmen import AID_KENMEN, FACE_FILE_SIZE, KenmenFile
from card_reader.emulator.image import CardImage, CardImageError, CardKind, ImageCode, Secret

if TYPE_CHECKING:
    from collections.abc import Mapping


class App(Enum):
    JPKI = auto()
    KENHOJO = auto()
    KENMEN = auto()


@dataclass(frozen=True, slots=True)
class BinaryFile:
    """A transparent EF of a fixed size: free to read, or readable once one of the secrets
    in `read_requires` was verified."""

    size: int
    read_requires: frozenset[Secret] = frozenset()


@dataclass(frozen=True, slots=True)
class KeyFile:
    """A private key, usable by COMPUTE DIGITAL SIGNATURE after its secret was verified."""

    secret: Secret


@dataclass(frozen=True, slots=True)
class PinFile:
    """A PIN or password EF: the target of VERIFY and CHANGE REFERENCE DATA."""

    secret: Secret


Ef = BinaryFile | KeyFile | PinFile

APPLICATIONS: Mapping[bytes, App] = {
    AID_JPKI: App.JPKI,
    AID_KENHOJO: App.KENHOJO,
    AID_KENMEN: App.KENMEN,
}


def _opened_by(*secrets: Secret) -> frozenset[Secret]:
    return frozenset(secrets)


_CERT = BinaryFile(CERTIFICATE_FILE_SIZE)
FILES: Mapping[App, Mapping[int, Ef]] = {
    App.JPKI: {
        JpkiFile.SIGN_CERT: BinaryFile(CERTIFICATE_FILE_SIZE, _opened_by(Secret.SIGN_PASSWORD)),
        JpkiFile.SIGN_CA_CERT: _CERT,
        JpkiFile.TOKEN_INFO: BinaryFile(TOKEN_INFO_FILE_SIZE),
        JpkiFile.AUTH_CERT: _CERT,
        JpkiFile.AUTH_CA_CERT: _CERT,
        JpkiFile.AUTH_KEY: KeyFile(Secret.AUTH_PIN),
        JpkiFile.AUTH_PIN: PinFile(Secret.AUTH_PIN),
        JpkiFile.SIGN_KEY: KeyFile(Secret.SIGN_PASSWORD),
        JpkiFile.SIGN_PASSWORD: PinFile(Secret.SIGN_PASSWORD),
    },
    App.KENHOJO: {
        # 照合番号A opens the My Number, B the 4 items, the PIN both (docs/card.md).
        KenhojoFile.MY_NUMBER: BinaryFile(
            MY_NUMBER_FILE_SIZE, _opened_by(Secret.KENHOJO_PIN, Secret.KENHOJO_PIN_A)
        ),
        KenhojoFile.BASIC_INFO: BinaryFile(
            BASIC_INFO_FILE_SIZE, _opened_by(Secret.KENHOJO_PIN, Secret.KENHOJO_PIN_B)
        ),
        KenhojoFile.SIGNATURE: BinaryFile(
            SIGNATURE_FILE_SIZE,
            _opened_by(Secret.KENHOJO_PIN, Secret.KENHOJO_PIN_A, Secret.KENHOJO_PIN_B),
        ),
        KenhojoFile.SIGNER_CERT: BinaryFile(SIGNER_CERT_FILE_SIZE),
        KenhojoFile.AP_INFO: BinaryFile(AP_INFO_FILE_SIZE),
        KenhojoFile.PIN: PinFile(Secret.KENHOJO_PIN),
        KenhojoFile.PIN_A: PinFile(Secret.KENHOJO_PIN_A),
        KenhojoFile.PIN_B: PinFile(Secret.KENHOJO_PIN_B),
    },
    App.KENMEN: {
        KenmenFile.FACE: BinaryFile(
            FACE_FILE_SIZE, _opened_by(Secret.KENMEN_PIN_A, Secret.KENMEN_PIN_B)
        ),
        KenmenFile.PIN_A: PinFile(Secret.KENMEN_PIN_A),
        KenmenFile.PIN_B: PinFile(Secret.KENMEN_PIN_B),
    },
}

# A smartphone's auth certificate is read after the auth PIN (docs/card.md): one difference
# from the card that clients meet, told apart by the token information.
SMARTPHONE_FILES: Mapping[int, Ef] = {
    **FILES[App.JPKI],
    JpkiFile.AUTH_CERT: BinaryFile(CERTIFICATE_FILE_SIZE, _opened_by(Secret.AUTH_PIN)),
}

SECRET_FORMAT: Mapping[Secret, Callable[[str], bytes]] = {
    Secret.AUTH_PIN: validate_auth_pin,
    Secret.SIGN_PASSWORD: validate_sign_password,
    Secret.KENHOJO_PIN: validate_auth_pin,
}


def layout_problems(image: CardImage) -> list[str]:
    """What in `image` does not fit a card's files (content larger than its EF, a file no
    application has): empty when the card can be emulated."""
    problems = []
    for app, files in _files_by_app(image).items():
        for fid, content in files.items():
            ef = FILES[app].get(fid)
            if not isinstance(ef, BinaryFile):
                problems.append(f"{app.name} has no transparent EF {fid:04X}")
            elif len(content) > ef.size:
                problems.append(f"{app.name} EF {fid:04X} holds {len(content)} bytes of {ef.size}")
    return problems


def _files_by_app(image: CardImage) -> dict[App, dict[int, bytes]]:
    return {
        App.JPKI: image.jpki_files,
        App.KENHOJO: image.kenhojo_files,
        App.KENMEN: image.kenmen_files,
    }


RSA_KEY_BYTES = 256
PKCS1_MIN_PADDING = 11  # 00 01 FF*8 00 (RFC 8017 §9.2)


def _response(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


class EmulatedCard:
    """A card in a reader: its image plus the volatile state (selection, verified secrets)."""

    def __init__(
        self, image: CardImage, on_change: Callable[[CardImage], None] | None = None
    ) -> None:
        problems = layout_problems(image)
        if problems:
            raise CardImageError(
                ImageCode.DOES_NOT_FIT, f"the card image does not fit a card: {'; '.join(problems)}"
            )
        self._image = image
        self._on_change = on_change
        self._files = _files_by_app(image)
        self._keys = {
            secret: _load_rsa_key(pem)
            for secret, pem in (
                (Secret.AUTH_PIN, image.auth_key_pem),
                (Secret.SIGN_PASSWORD, image.sign_key_pem),
            )
            if pem
        }
        self._app: App | None = None
        self._ef: int | None = None
        self._verified: set[Secret] = set()

    @property
    def image(self) -> CardImage:
        return self._image

    @property
    def atr(self) -> bytes:
        return self._image.atr

    def reset(self) -> bytes:
        """Power on or warm reset: forget selection and verification; return the ATR."""
        self._app = None
        self._ef = None
        self._verified.clear()
        return self._image.atr

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW)."""
        try:
            command = CommandApdu.from_bytes(raw)
        except MalformedApdu:
            return _response(SW.WRONG_LENGTH)
        handler = _HANDLERS.get(command.ins)
        if handler is None:
            return _response(SW.INS_NOT_SUPPORTED)
        expected_cla, method = handler
        if command.cla != expected_cla:
            return _response(SW.CLA_NOT_SUPPORTED)
        return method(self, command)

    # --- SELECT -----------------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        if command.p2 not in (0x00, 0x0C):
            return _response(SW.WRONG_P1_P2)
        if command.p1 == P1_SELECT_BY_NAME:
            app = APPLICATIONS.get(command.data)
            if app is None or not self._present(app):
                return _response(SW.FILE_NOT_FOUND)
            if app is not self._app:
                self._verified.clear()  # security status belongs to the DF
            self._app, self._ef = app, None
            return _response(SW.OK)
        if command.p1 == P1_SELECT_EF_UNDER_DF:
            if len(command.data) != 2:
                return _response(SW.WRONG_LENGTH)
            fid = int.from_bytes(command.data, "big")
            if self._app is None or not self._has_file(self._app, fid):
                return _response(SW.FILE_NOT_FOUND)
            self._ef = fid
            return _response(SW.OK)
        return _response(SW.WRONG_P1_P2)

    def _present(self, app: App) -> bool:
        """The JPKI AP is on every card; the others where the image has their files."""
        return app is App.JPKI or bool(self._files[app])

    def _layout(self, app: App) -> Mapping[int, Ef]:
        if app is App.JPKI and self._image.kind is CardKind.SMARTPHONE:
            return SMARTPHONE_FILES
        return FILES[app]

    def _has_file(self, app: App, fid: int) -> bool:
        """A transparent EF exists where the image has its content, a key where it has the
        key, a PIN file wherever the application has it (a PIN-less one refuses VERIFY)."""
        ef = self._layout(app).get(fid)
        if isinstance(ef, BinaryFile):
            return fid in self._files[app]
        if isinstance(ef, KeyFile):
            return ef.secret in self._keys
        return ef is not None

    def _current(self) -> Ef | None:
        if self._app is None or self._ef is None:
            return None
        return self._layout(self._app)[self._ef]

    # --- READ BINARY ------------------------------------------------------------------

    def _read_binary(self, command: CommandApdu) -> bytes:
        if command.p1 & 0x80:
            return _response(SW.FUNCTION_NOT_SUPPORTED)  # short EF identifiers: not on JPKI
        if command.data or command.le is None:
            return _response(SW.WRONG_LENGTH)
        ef = self._current()
        if ef is None or self._app is None or self._ef is None:
            return _response(SW.NO_CURRENT_EF)
        if not isinstance(ef, BinaryFile):
            return _response(SW.COMMAND_INCOMPATIBLE)
        if ef.read_requires and not ef.read_requires & self._verified:
            return _response(SW.SECURITY_STATUS_NOT_SATISFIED)
        offset = (command.p1 << 8) | command.p2
        if offset >= ef.size:
            return _response(SW.OFFSET_OUTSIDE_EF)
        content = self._files[self._app][self._ef]
        end = min(offset + command.le, ef.size)
        chunk = content[offset:end].ljust(end - offset, bytes((PADDING,)))
        return _response(SW.OK if len(chunk) == command.le else SW.END_OF_FILE, chunk)

    # --- VERIFY and CHANGE REFERENCE DATA ---------------------------------------------

    def _current_secret(self) -> Secret | None:
        ef = self._current()
        return ef.secret if isinstance(ef, PinFile) else None

    def _verify(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x00 or command.p2 != P2_SPECIFIC_REFERENCE:
            return _response(SW.WRONG_P1_P2)
        if command.le is not None:
            return _response(SW.WRONG_LENGTH)
        secret = self._current_secret()
        if secret is None:
            return _response(SW.NO_CURRENT_EF)
        state = self._image.pins.get(secret)
        if state is None:  # a card issued without this PIN (the face card) [chosen]: to a
            # status query it looks used up, as a PIN locked at issue; a try is refused as a
            # method the card does not offer, which a blocked PIN never answers
            return _response(SW.AUTH_METHOD_BLOCKED if command.data else SW_COUNTER)
        if not command.data:  # docs/card.md: an empty VERIFY reports the tries left, spends none
            return _response(SW_COUNTER | state.tries_left)
        if state.blocked:
            return _response(SW.REFERENCE_DATA_NOT_USABLE)
        if state.matches(command.data):
            self._verified.add(secret)
            if state.tries_left != state.max_tries:
                self._store(self._image.with_pin(secret, state.after_success()))
            return _response(SW.OK)
        self._verified.discard(secret)
        failed = state.after_failure()
        self._store(self._image.with_pin(secret, failed))
        return _response(SW_COUNTER | failed.tries_left)

    def _change_reference_data(self, command: CommandApdu) -> bytes:
        if command.p1 != P1_NEW_REFERENCE_ONLY or command.p2 != P2_SPECIFIC_REFERENCE:
            return _response(SW.WRONG_P1_P2)
        if not command.data or command.le is not None:
            return _response(SW.WRONG_LENGTH)
        secret = self._current_secret()
        if secret is None:
            return _response(SW.NO_CURRENT_EF)
        if secret not in self._verified:
            return _response(SW.SECURITY_STATUS_NOT_SATISFIED)
        if secret not in SECRET_FORMAT:  # a 照合番号 is printed on the card: it never changes
            return _response(SW.CONDITIONS_NOT_SATISFIED)
        try:
            new_value = SECRET_FORMAT[secret](command.data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return _response(SW.WRONG_DATA)
        self._store(self._image.with_pin(secret, self._image.pins[secret].with_value(new_value)))
        return _response(SW.OK)

    # --- COMPUTE DIGITAL SIGNATURE ------------------------------------------------------

    def _compute_signature(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x00 or command.p2 != P2_SPECIFIC_REFERENCE:
            return _response(SW.WRONG_P1_P2)
        ef = self._current()
        if not isinstance(ef, KeyFile):
            return _response(SW.NO_CURRENT_EF)
        if ef.secret not in self._verified:
            return _response(SW.SECURITY_STATUS_NOT_SATISFIED)
        if not command.data or len(command.data) > RSA_KEY_BYTES - PKCS1_MIN_PADDING:
            return _response(SW.WRONG_LENGTH)
        return _response(SW.OK, _pkcs1_v15_sign(self._keys[ef.secret], command.data))

    def _store(self, image: CardImage) -> None:
        self._image = image
        if self._on_change is not None:
            self._on_change(image)


_Handler = Callable[[EmulatedCard, CommandApdu], bytes]
_HANDLERS: Mapping[int, tuple[int, _Handler]] = {
    Ins.SELECT: (CLA_ISO, EmulatedCard._select),
    Ins.READ_BINARY: (CLA_ISO, EmulatedCard._read_binary),
    Ins.VERIFY: (CLA_ISO, EmulatedCard._verify),
    Ins.CHANGE_REFERENCE_DATA: (CLA_ISO, EmulatedCard._change_reference_data),
    Ins.PERFORM_SECURITY_OPERATION: (CLA_PROPRIETARY, EmulatedCard._compute_signature),
}


def _load_rsa_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The card's key from its image. OpenSSL's consistency check of an RSA key (about 60 ms,
    more than the rest of a card check) is skipped: the image is the test issuer's, and a key
    that is not what it claims only makes signatures that no verifier accepts."""
    key = load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_KEY_BYTES * 8:
        raise ValueError("a JPKI key is RSA-2048")
    return key


def _pkcs1_v15_sign(key: rsa.RSAPrivateKey, payload: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 over a DigestInfo the host built (RFC 8017 §8.2.1 from step 2 on):
    the card pads and exponentiates; it does not hash.

    A SHA-256 DigestInfo, the only kind JPKI clients send, goes through OpenSSL (the result
    is the same: v1.5 signatures are deterministic); anything else through raw RSA via CRT.
    """
    if len(payload) == len(SHA256_DIGEST_INFO_PREFIX) + SHA256_DIGEST_SIZE and payload.startswith(
        SHA256_DIGEST_INFO_PREFIX
    ):
        digest = payload[len(SHA256_DIGEST_INFO_PREFIX) :]
        return key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    return raw_pkcs1_v15_sign(key.private_numbers(), payload)


def raw_pkcs1_v15_sign(numbers: rsa.RSAPrivateNumbers, payload: bytes) -> bytes:
    """Pad `payload` as EMSA-PKCS1-v1_5 and apply the private key (CRT)."""
    encoded = b"\x00\x01" + b"\xff" * (RSA_KEY_BYTES - 3 - len(payload)) + b"\x00" + payload
    m = int.from_bytes(encoded, "big")
    s1 = pow(m, numbers.dmp1, numbers.p)
    s2 = pow(m, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s1 - s2)) % numbers.p
    return (s2 + h * numbers.q).to_bytes(RSA_KEY_BYTES, "big")
