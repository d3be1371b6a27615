"""Receipts for the records a lookup made, returned with its answer (docs/access-log.md,
"Receipts: the unsealed window"), and the proofs a clinic later checks them by.

A record is only append-only from the moment it is sealed into the tree; before that, whoever
can write to the database could delete or change it unseen. The answer therefore carries the
log's signed receipt for the records it made (`onshi_kernel.transparency.receipt`): each
record's id and the digest of its content, signed after the record committed. The clinic keeps
it and asks later (`record_proofs`) for each record's bytes and inclusion proof against the
latest witnessed checkpoint: a record missing or changed after the merge delay is the log's
signature against itself.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import select

from onshi_kernel.transparency.receipt import (
    RECEIPT_HEADER,
    encode_header,
    receipt_for,
    sign_receipt,
)
from qualification_server.access_log import log as access_log
from qualification_server.access_log import tree
from qualification_server.access_log.checkpoints import latest_witnessed
from qualification_server.models import AccessRecord

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qualification_server.access_log.checkpoints import LogIdentity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Receipted(Generic[T]):
    """An answer and the receipt for the records it made (`RECEIPT_HEADER`'s value)."""

    answer: T
    receipt: str

    @property
    def headers(self) -> dict[str, str]:
        """The response headers that carry the receipt."""
        return {RECEIPT_HEADER: self.receipt}


class ReceiptSigner:
    """Signs receipts with the log's key (the checkpoints' key: one public key to trust)."""

    def __init__(self, identity: LogIdentity) -> None:
        self._identity = identity

    def sign(self, records: Sequence[access_log.RecordFields]) -> str:
        """The receipt for `records` (committed, made at one moment), as a header value."""
        if not records:
            raise ValueError("a receipt covers at least one record")
        documents = [access_log.record_document(record) for record in records]
        receipt = receipt_for(self._identity.origin, records[0].recorded_at, documents)
        return encode_header(sign_receipt(receipt, self._identity.signer))

    def receipted(self, answer: T, records: Sequence[access_log.RecordFields]) -> Receipted[T]:
        """`answer` with the receipt for the records it made."""
        return Receipted(answer, self.sign(records))


def latest_witnessed_head(session: Session) -> tuple[str | None, int]:
    """The latest checkpoint a witness cosigned, and its tree size (0 when none)."""
    found = latest_witnessed(session)
    return (found.witnessed_note, found.size) if found is not None else (None, 0)


def record_proof(
    session: Session, record: AccessRecord, size: int, paths: dict[int, list[bytes]] | None = None
) -> dict[str, Any]:
    """What a record is checked by: its bytes as hashed (`leaf`, base64), its `leaf_index`
    and, when the witnessed tree of `size` holds it, its audit path there
    (`inclusion_proof`, else None; from `paths` when given, see `audit_paths`). An unsealed
    record has none of them yet: {}."""
    if record.chain_pos is None:
        return {}
    index = record.chain_pos - 1
    proof = None
    if index < size:
        path = paths[index] if paths is not None else tree.inclusion(session, index, size)
        proof = [base64.b64encode(h).decode() for h in path]
    leaf = base64.b64encode(access_log.canonical(record, record.chain_pos)).decode()
    return {"leaf": leaf, "leaf_index": index, "inclusion_proof": proof}


def audit_paths(
    session: Session, records: Iterable[AccessRecord], size: int
) -> dict[int, list[bytes]]:
    """The audit paths of those `records` the witnessed tree of `size` holds, by leaf
    index, their nodes fetched together."""
    indexes = [r.chain_pos - 1 for r in records if r.chain_pos is not None and r.chain_pos <= size]
    return tree.inclusions(session, indexes, size)


def record_proofs(
    session: Session, clinic_code: str, ids: Sequence[int]
) -> tuple[str | None, list[dict[str, Any]]]:
    """The latest witnessed checkpoint and, for each id asked, the clinic's own record's
    proof (`record_proof`, with `id` and `state`: "included", "not witnessed yet",
    "unsealed" or "not found"). A record of another clinic is "not found": its existence is
    not this clinic's to learn."""
    note, size = latest_witnessed_head(session)
    found = {
        record.id: record
        for record in session.scalars(
            select(AccessRecord).where(
                AccessRecord.id.in_(set(ids)), AccessRecord.clinic_code == clinic_code
            )
        )
    }
    paths = audit_paths(session, found.values(), size)
    answers = []
    for record_id in ids:
        record = found.get(record_id)
        if record is None:
            answers.append({"id": record_id, "state": "not found"})
            continue
        proof = record_proof(session, record, size, paths)
        if not proof:
            state = "unsealed"
        elif proof["inclusion_proof"] is None:
            state = "not witnessed yet"
        else:
            state = "included"
        answers.append({"id": record_id, "state": state, **proof})
    return note, answers
