"""Receipts: the log's signed promise, given with an answer, that the lookup's records are in
the log (docs/access-log.md, "Receipts: the unsealed window").

A record is sealed into the tree a moment after its commit and witnessed up to a checkpoint
interval later; until then only the database holds it. A receipt closes that window for the
one who asked: the server signs, with the log's note key, each record's id and the SHA-256 of
its content (`record_content`: the record's fields as canonical JSON, without its place in
the tree, which is not known at commit), and returns it with the answer. Whoever keeps it can
later ask for the record's inclusion proof: a record that is missing, or whose content
differs, after the log's merge delay, is the log's own signature against it, as a
Certificate Transparency log's signed certificate timestamp is.

The receipt is a signed note (`note`) whose text cannot be taken for a checkpoint (its second
line is not a tree size, and a checkpoint's is):

    <origin>
    receipt <time the records were made, RFC 3339, UTC, microseconds>
    <record id> <base64 SHA-256 of its content>
    …

One receipt covers every record an answer made (a lookup of twins makes two).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onshi_kernel.transparency.note import NoteError, Signer, Verifier, open_note, sign_note

RECEIPT_KEYWORD = "receipt"
# The HTTP header an answer carries its receipt in: the note's UTF-8, base64url, no padding.
RECEIPT_HEADER = "Onshi-Log-Receipt"
# A record's place in the tree, which its leaf holds and its content (the receipt's) does not.
POSITION_FIELD = "pos"
MAX_RECORDS = 1000
_ID = re.compile(r"[1-9][0-9]{0,18}")


class ReceiptError(NoteError):
    """A receipt that is not one, or not the log's; `reason` says why."""


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The one JSON form the log hashes: keys sorted, no spaces, UTF-8 (not escaped)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_content(document: Mapping[str, Any]) -> bytes:
    """The bytes a receipt covers of a record: its canonical JSON without its position. For a
    sealed record's leaf bytes parsed back, this is the content the receipt was given for."""
    return canonical_json({k: v for k, v in document.items() if k != POSITION_FIELD})


def content_digest(document: Mapping[str, Any]) -> bytes:
    """SHA-256 of `record_content(document)`."""
    return hashlib.sha256(record_content(document)).digest()


def leaf_document(leaf: bytes) -> dict[str, Any]:
    """A sealed record's leaf bytes (canonical JSON with its position) parsed back; a
    `ReceiptError` if they are not canonical JSON of an object."""
    try:
        document = json.loads(leaf.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptError("the record's bytes are not JSON") from None
    if not isinstance(document, dict) or canonical_json(document) != leaf:
        raise ReceiptError("the record's bytes are not the log's canonical JSON of a record")
    return document


def _utc(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ReceiptError("a receipt's time needs a time zone")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class Receipt:
    """The records one answer made: their ids and content digests, and when they were made."""

    origin: str
    made_at: dt.datetime
    records: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ReceiptError("the origin is empty or has a newline")
        if not 1 <= len(self.records) <= MAX_RECORDS:
            raise ReceiptError(f"a receipt covers 1 to {MAX_RECORDS} records")
        for record_id, digest in self.records:
            if not 0 < record_id < 2**63 or len(digest) != 32:
                raise ReceiptError("a record id is not positive or a digest not 32 bytes")
        if len({record_id for record_id, _ in self.records}) != len(self.records):
            raise ReceiptError("a record id appears twice")
        _utc(self.made_at)

    def body(self) -> str:
        """The note text (see the module's docstring)."""
        lines = [self.origin, f"{RECEIPT_KEYWORD} {_utc(self.made_at)}"]
        lines += [f"{i} {base64.b64encode(d).decode('ascii')}" for i, d in self.records]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Receipt:
        """The receipt a note text states; `ReceiptError` when it is not one."""
        if not body.endswith("\n"):
            raise ReceiptError("the receipt does not end in a newline")
        parts = body[:-1].split("\n")
        if len(parts) < 3:
            raise ReceiptError("a receipt has an origin, a time and at least one record")
        origin, stamp, *lines = parts
        keyword, _, when = stamp.partition(" ")
        if keyword != RECEIPT_KEYWORD:
            raise ReceiptError("the second line is not 'receipt <time>': not a receipt")
        try:
            made_at = dt.datetime.fromisoformat(when)
        except ValueError:
            raise ReceiptError("the receipt's time is not RFC 3339") from None
        records = []
        for line in lines:
            number, space, encoded = line.partition(" ")
            if not space or not _ID.fullmatch(number):
                raise ReceiptError("a record line is not '<id> <digest>'")
            try:
                digest = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ReceiptError("a record's digest is not base64") from None
            if base64.b64encode(digest).decode("ascii") != encoded:
                raise ReceiptError("a record's digest is not in canonical base64")
            records.append((int(number), digest))
        receipt = cls(origin, made_at, tuple(records))
        if receipt.body() != body:
            raise ReceiptError("the receipt is not in its canonical form")
        return receipt


def sign_receipt(receipt: Receipt, signer: Signer) -> str:
    """The receipt as a note signed by the log's key."""
    return sign_note(receipt.body(), [signer])


def open_receipt(note: str | bytes, log: Verifier, origin: str | None = None) -> Receipt:
    """The receipt of `note`, which `log` must have signed and whose origin, when given, must
    be `origin`; `NoteError` otherwise."""
    receipt = Receipt.parse(open_note(note, [log]).body)
    if origin is not None and receipt.origin != origin:
        raise ReceiptError(f"the receipt is for another log: {receipt.origin}")
    return receipt


def encode_header(note: str) -> str:
    """A receipt note as the value of `RECEIPT_HEADER`."""
    return base64.urlsafe_b64encode(note.encode()).rstrip(b"=").decode("ascii")


def decode_header(value: str) -> str:
    """The receipt note a `RECEIPT_HEADER` value carries; `ReceiptError` when it is not one."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise ReceiptError("the receipt header is not base64url of UTF-8 text") from None


def receipt_for(
    origin: str, made_at: dt.datetime, documents: Sequence[Mapping[str, Any]]
) -> Receipt:
    """The receipt of records given as documents (each with its `id`)."""
    return Receipt(
        origin, made_at, tuple((int(doc["id"]), content_digest(doc)) for doc in documents)
    )
