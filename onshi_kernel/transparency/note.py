"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, written and read as
golang.org/x/mod/sumdb/note does, so Go witnesses and verifiers read ours.

A note is a text ending in a newline, a blank line, then one signature line per key:
`— <key name> <base64(4-byte key id ‖ signature)>`. An Ed25519 key's id is
SHA-256(name ‖ "\\n" ‖ 0x01 ‖ 32-byte public key)[:4]. Keys are written as strings:
the verifier key `<name>+<hex id>+<base64(0x01 ‖ public key)>` and the signer key
`PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ 32-byte seed)>`.

Reading: signatures by unknown keys are ignored (that is how witnesses add cosignatures and
how a log rotates its key), a known key's signature that does not verify rejects the whole
note, and a note with no verified signature is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # as Go's reader; the spec asks for at least 16
_DASH = "— "  # em dash (U+2014) and a space
# A control character other than the newline (one search, not a loop over the characters:
# a receipt is checked on every answer). `\s` is `str.isspace`'s set.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE_OR_PLUS = re.compile(r"[\s+]")


class NoteError(ValueError):
    """A note, or a key string, that is refused; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Signer(Protocol):
    """A key that signs note texts under a name."""

    @property
    def name(self) -> str:
        """The key name written on the signature line."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id that begins the signature."""
        ...

    def sign(self, text: bytes) -> bytes:
        """The signature of `text` (what follows the key id on the line)."""
        ...


class Verifier(Protocol):
    """A known key: its name and id select the signature lines it checks."""

    @property
    def name(self) -> str:
        """The key name on the signature lines this key checks."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id on those lines."""
        ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether `signature` (after the key id) is this key's over `text`."""
        ...


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line, not yet verified."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as written in a note, with its newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_DASH}{self.name} {blob}\n"


class OpenedNote(NamedTuple):
    """A note whose signatures were checked: its text and who signed it."""

    body: str
    signers: tuple[str, ...]


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """SHA-256(name ‖ "\\n" ‖ alg ‖ public key)[:4], the id of a key of signature type `alg`."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def valid_name(name: str) -> bool:
    """A key name: non-empty, with no space of any kind and no '+'."""
    return bool(name) and _SPACE_OR_PLUS.search(name) is None


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(text: str) -> bytes:
    # Canonical standard base64 only: no '=' after a full group, no stray padding bits (what
    # the page's checker and Go's decoder refuse, this refuses too).
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError("not canonical base64")
    return raw


def _id_hex(text: str) -> bytes:
    if len(text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise NoteError("the key id is not 8 hex digits")
    return bytes.fromhex(text)


def parse_verifier_key(
    vkey: str, algs: Sequence[int], what: str
) -> tuple[str, int, Ed25519PublicKey]:
    """The name, signature type and Ed25519 key of a verifier key string
    `<name>+<hex id>+<base64(type ‖ public key)>` whose type is one of `algs` and whose id is
    the key's; `NoteError` naming what is wrong (`what` names the key expected)."""
    name, _, rest = vkey.partition("+")
    id_hex, _, material = rest.partition("+")
    if not valid_name(name):
        raise NoteError("the key name is empty or has a space or '+'")
    stated = _id_hex(id_hex)
    raw = _b64(material)
    if len(raw) != 33 or raw[0] not in algs:
        raise NoteError(f"not {what}")
    if key_id(name, raw[0], raw[1:]) != stated:
        raise NoteError("the key id does not match the key")
    try:
        return name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError:
        raise NoteError("not an Ed25519 public key") from None


class Ed25519Verifier:
    """An Ed25519 note key (signature type 0x01), as read from its verifier key string."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not valid_name(name):
            raise NoteError("the key name is empty or has a space or '+'")
        self._name = name
        self._key = public_key
        self._id = key_id(name, ALG_ED25519, _raw_public(public_key))

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return self._id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key."""
        return self._key

    @classmethod
    def from_key(cls, vkey: str) -> Ed25519Verifier:
        """The key of a verifier key string `<name>+<hex id>+<base64(0x01 ‖ public key)>`."""
        name, _, public_key = parse_verifier_key(vkey, (ALG_ED25519,), "an Ed25519 verifier key")
        return cls(name, public_key)

    def key_string(self) -> str:
        """The verifier key string, to publish."""
        material = base64.b64encode(bytes([ALG_ED25519]) + _raw_public(self._key)).decode()
        return f"{self._name}+{self._id.hex()}+{material}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `text`."""
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


class Ed25519Signer:
    """An Ed25519 note signing key (signature type 0x01)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._verifier = Ed25519Verifier(name, private_key.public_key())
        self._key = private_key

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        """A new random key named `name`."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_key(cls, skey: str) -> Ed25519Signer:
        """The key of `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError("not a signer key")
        _, _, name, id_hex, material = parts
        stated = _id_hex(id_hex)
        raw = _b64(material)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("not an Ed25519 signer key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id != stated:
            raise NoteError("the key id does not match the key")
        return signer

    @property
    def name(self) -> str:
        """The key name."""
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return self._verifier.key_id

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The Ed25519 private key (a witness key derives its cosigner from it)."""
        return self._key

    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return self._verifier

    def key_string(self) -> str:
        """The signer key string: a secret, to keep where secrets are kept."""
        seed = self._key.private_bytes_raw()
        material = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"

    def sign(self, text: bytes) -> bytes:
        """The Ed25519 signature of `text`."""
        return self._key.sign(text)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("the note text does not end in a newline")
    if _CONTROL.search(text):
        raise NoteError("the note has a control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("the note is not valid UTF-8") from None


def split_note(note: str | bytes) -> tuple[str, tuple[NoteSignature, ...]]:
    """The text and the signature lines of a note, checked for form but not verified."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("the note is not valid UTF-8") from None
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, lines = note[: split + 1], note[split + 2 :].split("\n")[:-1]
    if not lines:
        raise NoteError("the note has no signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError("a signature line does not begin with an em dash and a space")
        name, space, blob = line[len(_DASH) :].partition(" ")
        if not space or not valid_name(name):
            raise NoteError("a signature line has no valid key name")
        raw = _b64(blob)
        if len(raw) < 5:
            raise NoteError("a signature is too short")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, tuple(signatures)


def sign_note(body: str, signers: Sequence[Signer], existing: Iterable[NoteSignature] = ()) -> str:
    """The note of `body` signed by every signer, after the `existing` signatures that are
    not by one of these keys (a key's new signature replaces its old one)."""
    _check_text(body)
    if not signers:
        raise NoteError("a note needs at least one signer")
    mine = {(s.name, s.key_id) for s in signers}
    kept = [s for s in existing if (s.name, s.key_id) not in mine]
    text = body.encode()
    lines = [s.line() for s in kept]
    for signer in signers:
        if not valid_name(signer.name):
            raise NoteError("a signer's name is empty or has a space or '+'")
        lines.append(NoteSignature(signer.name, signer.key_id, signer.sign(text)).line())
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note would have more than {MAX_SIGNATURES} signatures")
    return body + "\n" + "".join(lines)


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """The text of `note` and the names of the known keys that signed it; `NoteError` when
    it is malformed, when a known key's signature is bad, or when no known key signed it."""
    text, signatures = split_note(note)
    known: dict[tuple[str, bytes], list[Verifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    message = text.encode()
    signers: list[str] = []
    for signature in signatures:
        candidates = known.get((signature.name, signature.key_id), [])
        if not candidates:
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {signature.name}+{signature.key_id.hex()}")
        if not candidates[0].verify(message, signature.signature):
            raise NoteError(f"invalid signature for key {signature.name}+{signature.key_id.hex()}")
        if signature.name not in signers:
            signers.append(signature.name)
    if not signers:
        raise NoteError("the note has no signature by a known key")
    return OpenedNote(text, tuple(signers))
