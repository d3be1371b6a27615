"""Checkpoints (https://c2sp.org/tlog-checkpoint) and their witness cosignatures
(https://c2sp.org/tlog-cosignature, the Ed25519 cosignature/v1).

A checkpoint is the text of a signed note: the log's origin, its tree size in decimal and its
RFC 9162 root in base64, one line each, then optional extension lines. The log signs it with
its note key; a witness that checked the new tree is consistent with the last one it saw adds
a cosignature line. A cosignature key's id is SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key)[:4];
the witness signs `cosignature/v1\\ntime <unix seconds>\\n` ‖ the checkpoint text, and its
line carries key id ‖ 8-byte big-endian time ‖ 64-byte signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from onshi_kernel.transparency.merkle import HASH_SIZE
from onshi_kernel.transparency.note import (
    ALG_ED25519,
    Ed25519Signer,
    NoteError,
    NoteSignature,
    Signer,
    Verifier,
    key_id,
    open_note,
    parse_verifier_key,
    sign_note,
    split_note,
    valid_name,
)

ALG_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = b"cosignature/v1\n"
_MAX_TIME = 2**63 - 1
_SIZE = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(NoteError):
    """A checkpoint text that is not one; `reason` says why."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: its origin, its size and the root of its first `size` leaves."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("the origin is empty or has a newline")
        if self.size < 0:
            raise CheckpointError("the tree size is negative")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(f"the root is {len(self.root)} bytes, not {HASH_SIZE}")
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointError("an extension line is empty or has a newline")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in \\n."""
        root = base64.b64encode(self.root).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """The checkpoint a note text states; `CheckpointError` when it is not one."""
        if not body.endswith("\n"):
            raise CheckpointError("the checkpoint does not end in a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has at least three lines")
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise CheckpointError("the tree size is not a decimal without leading zeroes")
        try:
            raw = base64.b64decode(root, validate=True)
        except ValueError:
            raise CheckpointError("the root hash is not base64") from None
        if base64.b64encode(raw).decode("ascii") != root:
            raise CheckpointError("the root hash is not in canonical base64")
        if int(size) >= 2**64:
            raise CheckpointError("the tree size does not fit in 64 bits")
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a note signed by the log's key."""
    return sign_note(checkpoint.body(), [signer])


def open_checkpoint(note: str | bytes, log: Verifier, origin: str | None = None) -> Checkpoint:
    """The checkpoint of `note`, which `log` must have signed (other signatures are ignored)
    and whose origin, when given, must be `origin`; `NoteError` otherwise."""
    opened = open_note(note, [log])
    checkpoint = Checkpoint.parse(opened.body)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"the checkpoint is for another log: {checkpoint.origin}")
    return checkpoint


def _cosigned_message(text: bytes, timestamp: int) -> bytes:
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class WitnessVerifier:
    """A witness's Ed25519 cosignature key (type 0x04): a note `Verifier` of its lines."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not valid_name(name):
            raise NoteError("the key name is empty or has a space or '+'")
        self._name = name
        self._key = public_key
        self._id = key_id(name, ALG_COSIGNATURE_V1, _raw_public(public_key))

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte cosignature key id."""
        return self._id

    @classmethod
    def from_key(cls, vkey: str) -> WitnessVerifier:
        """The key of a verifier key string of type 0x04, or of type 0x01 (the same Ed25519
        key published as a note key, as transparency-dev/formats accepts)."""
        name, _, public_key = parse_verifier_key(
            vkey, (ALG_COSIGNATURE_V1, ALG_ED25519), "an Ed25519 cosignature or note key"
        )
        return cls(name, public_key)

    def key_string(self) -> str:
        """The verifier key string of type 0x04, to publish."""
        material = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + _raw_public(self._key))
        return f"{self._name}+{self._id.hex()}+{material.decode()}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether `signature` (8-byte time ‖ Ed25519 signature) cosigns `text`."""
        if len(signature) != 8 + 64:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > _MAX_TIME:
            return False
        try:
            self._key.verify(signature[8:], _cosigned_message(text, timestamp))
        except InvalidSignature:
            return False
        return True


class WitnessSigner:
    """A witness's Ed25519 cosigning key. It must not also sign notes of type 0x01 of
    another meaning, nor serve two witnesses (the message does not name the witness)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._verifier = WitnessVerifier(name, private_key.public_key())
        self._key = private_key

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        """A new random key named `name`."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_key(cls, skey: str) -> WitnessSigner:
        """The key of a note signer key string (`PRIVATE+KEY+...`, type 0x01), as Go's
        NewSignerForCosignatureV1 reads it."""
        note_key = Ed25519Signer.from_key(skey)
        return cls(note_key.name, note_key.private_key)

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        """The 4-byte cosignature key id."""
        return self._verifier.key_id

    def verifier(self) -> WitnessVerifier:
        """The matching verifier."""
        return self._verifier

    def cosign_text(self, text: bytes, timestamp: int) -> bytes:
        """8-byte big-endian `timestamp` ‖ the signature of the cosigned message."""
        if not 0 <= timestamp <= _MAX_TIME:
            raise NoteError("the cosignature time is out of range")
        signature = self._key.sign(_cosigned_message(text, timestamp))
        return timestamp.to_bytes(8, "big") + signature


@dataclass(frozen=True, slots=True)
class _AtTime:
    # A witness key fixed at one time, so the note writer can use it as any other signer.
    witness: WitnessSigner
    timestamp: int

    @property
    def name(self) -> str:
        return self.witness.name

    @property
    def key_id(self) -> bytes:
        return self.witness.key_id

    def sign(self, text: bytes) -> bytes:
        return self.witness.cosign_text(text, self.timestamp)


def _unix(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    return int(moment.timestamp())


def cosign(note: str | bytes, witness: WitnessSigner, now: dt.datetime) -> str:
    """`note`, a signed checkpoint, with `witness`'s cosignature as of `now` added (or
    replacing its earlier one). The caller checks first that the log signed it and that it
    is consistent with the last checkpoint the witness cosigned: signing says so."""
    text, signatures = split_note(note)
    Checkpoint.parse(text)
    return sign_note(text, [_AtTime(witness, _unix(now))], existing=signatures)


def cosignature_time(signature: NoteSignature) -> int:
    """The unix time a cosignature line states (unverified); `NoteError` if it is not one."""
    if len(signature.signature) != 8 + 64:
        raise NoteError("not an Ed25519 cosignature")
    timestamp = int.from_bytes(signature.signature[:8], "big")
    if timestamp > _MAX_TIME:
        raise NoteError("the cosignature time is out of range")
    return timestamp


def verify_cosignature(note: str | bytes, witness: WitnessVerifier) -> dt.datetime:
    """The time at which `witness` cosigned the checkpoint `note` (UTC); `NoteError` when it
    did not, or when a line under its key does not verify."""
    text, signatures = split_note(note)
    Checkpoint.parse(text)
    mine = [s for s in signatures if (s.name, s.key_id) == (witness.name, witness.key_id)]
    if not mine:
        raise NoteError(f"the checkpoint has no cosignature by {witness.name}")
    message = text.encode()
    for signature in mine:
        if not witness.verify(message, signature.signature):
            raise NoteError(f"the cosignature by {witness.name} does not verify")
    latest = max(cosignature_time(s) for s in mine)
    return dt.datetime.fromtimestamp(latest, dt.UTC)
