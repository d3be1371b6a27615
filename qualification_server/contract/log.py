"""The access log on the wire, for a clinic: the proofs of its own records that the receipts
its answers carried name (docs/access-log.md, "Receipts: the unsealed window"). The log's
public routes (checkpoint, consistency, inclusion) need no body."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from qualification_server.contract.schemas import Strict

# Record ids asked at once: each costs an inclusion proof (one query).
MAX_PROOF_IDS = 500
RecordId = Annotated[int, Field(gt=0, lt=2**63)]
RecordState = Literal["included", "not witnessed yet", "unsealed", "not found"]


class RecordProofsRequest(Strict):
    """The record ids (from the clinic's receipts) to prove."""

    ids: list[RecordId] = Field(min_length=1, max_length=MAX_PROOF_IDS)


class RecordProof(BaseModel):
    """One record: `included` (in the witnessed tree: its bytes, leaf index and audit path),
    `not witnessed yet` (sealed, beyond the latest witnessed checkpoint: bytes and index),
    `unsealed` (committed, not yet in the tree), or `not found` (no such record of this
    clinic's)."""

    id: int
    state: RecordState
    leaf: str | None = Field(default=None, description="the record's bytes as hashed (base64)")
    leaf_index: int | None = None
    inclusion_proof: list[str] | None = Field(
        default=None, description="its audit path in the checkpoint's tree (base64 hashes)"
    )


class RecordProofs(BaseModel):
    """The latest witnessed checkpoint (a signed note; None before the first) and each
    record asked, in the order asked."""

    checkpoint: str | None
    records: list[RecordProof]
