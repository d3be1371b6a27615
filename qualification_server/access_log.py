"""The access log: every lookup, append-only and tamper-evident (SPEC §1, 情報提供等記録).

Each record's hash is SHA-256(previous hash ‖ canonical JSON of the record); the chain head
row is locked while a record is appended, so instances behind a load balancer append in one
order. `verify_chain` recomputes every hash: an edited, removed or reordered record breaks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qualification_server.models import AccessRecord, ChainHead

GENESIS = bytes(32)
HEAD_ID = 1


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _canonical(record: AccessRecord) -> bytes:
    doc = {
        "seq": record.seq,
        "recorded_at": _utc(record.recorded_at).isoformat(timespec="microseconds"),
        "clinic_code": record.clinic_code,
        "person_ref": record.person_ref,
        "method": record.method,
        "request": record.request,
        "answer": record.answer,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(prev_hash: bytes, record: AccessRecord) -> bytes:
    return hashlib.sha256(prev_hash + _canonical(record)).digest()


def append(
    session: Session,
    *,
    now: dt.datetime,
    clinic_code: str | None,
    person_ref: str | None,
    method: str,
    request: dict[str, Any],
    answer: dict[str, Any],
) -> AccessRecord:
    """Append one record inside the caller's transaction (it commits or rolls back with it)."""
    head = session.scalars(
        select(ChainHead).where(ChainHead.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:
        head = ChainHead(id=HEAD_ID, seq=0, hash=GENESIS)
        session.add(head)
    record = AccessRecord(
        seq=head.seq + 1,
        recorded_at=now,
        clinic_code=clinic_code,
        person_ref=person_ref,
        method=method,
        request=json.dumps(request, sort_keys=True, ensure_ascii=False),
        answer=json.dumps(answer, sort_keys=True, ensure_ascii=False),
        prev_hash=head.hash,
        hash=b"",
    )
    record.hash = record_hash(head.hash, record)
    session.add(record)
    head.seq, head.hash = record.seq, record.hash
    return record


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first record whose hash or link does not match."""

    seq: int
    reason: str


def verify_chain(session: Session, batch: int = 5000) -> ChainBreak | None:
    """Walk the whole chain; None if intact, else where it first breaks."""
    prev_hash, expected_seq = GENESIS, 1
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AccessRecord)
            .where(AccessRecord.seq > last_seq)
            .order_by(AccessRecord.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for record in rows:
            if record.seq != expected_seq:
                return ChainBreak(expected_seq, "record missing")
            if record.prev_hash != prev_hash:
                return ChainBreak(record.seq, "link to the previous record broken")
            if record.hash != record_hash(prev_hash, record):
                return ChainBreak(record.seq, "record content changed")
            prev_hash, expected_seq, last_seq = record.hash, record.seq + 1, record.seq
    head = session.get(ChainHead, HEAD_ID)
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        return ChainBreak(last_seq + 1, "records after the last one were removed")
    return None


def records_about(session: Session, person_ref: str, limit: int = 500) -> list[AccessRecord]:
    """The lookups of one person's data, newest first (what the portal shows them)."""
    return list(
        session.scalars(
            select(AccessRecord)
            .where(AccessRecord.person_ref == person_ref)
            .order_by(AccessRecord.seq.desc())
            .limit(limit)
        )
    )
