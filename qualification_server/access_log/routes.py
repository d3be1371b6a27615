"""The access log's public read routes, as a Certificate Transparency log publishes its tree:
the latest checkpoint, consistency and inclusion proofs. No credential: they name no person
(a leaf is a hash; the records stay private), and anyone auditing the log must be able to
ask. And one clinic route: the proofs of the clinic's own records, which its receipts name
(`receipts`)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import select

from qualification_server.access_log import tree
from qualification_server.access_log.checkpoints import Checkpointer, latest_witnessed
from qualification_server.access_log.receipts import record_proofs
from qualification_server.api.dependencies import ClinicDep, DepsDep
from qualification_server.api.responses import ERRORS
from qualification_server.contract.codes import Code
from qualification_server.contract.log import RecordProofs, RecordProofsRequest
from qualification_server.errors import QualificationError
from qualification_server.models import LogCheckpoint

router = APIRouter()
# A tree size or leaf index (FastAPI copies an Annotated Query per parameter, not a default).
Position = Annotated[int, Query(ge=0, le=2**63 - 1)]


class Proof(BaseModel):
    """A proof's hashes (standard base64), in the order RFC 9162 §2.1 verifies them."""

    hashes: list[str]


def _encoded(hashes: list[bytes]) -> Proof:
    return Proof(hashes=[base64.b64encode(h).decode("ascii") for h in hashes])


@router.get(
    "/v1/log/checkpoint",
    responses=ERRORS,
    tags=["log"],
    response_class=PlainTextResponse,
)
def checkpoint(deps: DepsDep) -> PlainTextResponse:
    """The latest checkpoint (a C2SP signed note): the latest a witness cosigned, else the
    latest the server signed, else the tree's head signed now."""
    with deps.sessions() as session:
        witnessed = latest_witnessed(session)
        note = (witnessed.witnessed_note if witnessed is not None else None) or session.scalar(
            select(LogCheckpoint.note).order_by(LogCheckpoint.size.desc()).limit(1)
        )
    if note is None:
        # None signed yet (a new log, or before the first interval): sign the head now.
        Checkpointer(deps.sessions, deps.log_identity).sign_now(first_even_if_empty=True)
        with deps.sessions() as session:
            note = session.scalar(
                select(LogCheckpoint.note).order_by(LogCheckpoint.size.desc()).limit(1)
            )
    return PlainTextResponse(note or "", media_type="text/plain; charset=utf-8")


def _head_size(deps: DepsDep) -> int:
    with deps.sessions() as session:
        return tree.head(session).size


@router.get("/v1/log/consistency", responses=ERRORS, tags=["log"])
def consistency(deps: DepsDep, old: Position, new: Position) -> Proof:
    """The proof that the tree of `old` leaves is a prefix of the tree of `new`."""
    if old > new or new > _head_size(deps):
        raise QualificationError(Code.INVALID_REQUEST, "need old <= new <= the tree's size")
    with deps.sessions() as session:
        return _encoded(tree.consistency(session, old, new))


@router.get("/v1/log/inclusion", responses=ERRORS, tags=["log"])
def inclusion(deps: DepsDep, index: Position, size: Position) -> Proof:
    """The audit path of leaf `index` in the tree of `size` leaves."""
    if index >= size or size > _head_size(deps):
        raise QualificationError(Code.INVALID_REQUEST, "need index < size <= the tree's size")
    with deps.sessions() as session:
        return _encoded(tree.inclusion(session, index, size))


@router.post("/v1/log/records/proofs", responses=ERRORS, tags=["clinic"])
def proofs_of_records(deps: DepsDep, who: ClinicDep, body: RecordProofsRequest) -> RecordProofs:
    """The clinic's own records by id (from its receipts): each one's bytes, leaf index and
    inclusion proof against the latest witnessed checkpoint, or why not yet. Another
    clinic's record is `not found`."""
    with deps.sessions() as session:
        note, records = record_proofs(session, who.code, body.ids)
    return RecordProofs.model_validate({"checkpoint": note, "records": records})
