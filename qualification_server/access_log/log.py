"""The access log: every lookup, append-only and tamper-evident (docs/domain.md, 情報提供等記録).

A lookup appends its record inside its own transaction (one INSERT, no shared lock, so
lookups never queue behind each other). Sealing, done by every server instance in the
background (`housekeeping.Housekeeper`) and serialised by the chain head's row lock, gives
the unsealed records their places in the chain in commit order: each record's hash is
SHA-256(previous hash ‖ canonical JSON of the record). `verify_chain` recomputes every hash:
an edited, removed or reordered sealed record breaks it. A record is sealed within about a
second of its commit; that second is the window in which it is only append-only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import bindparam, insert, select, update

from qualification_server.models import AccessRecord, Base, ChainHead

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

GENESIS = bytes(32)
_RECORDS = Base.metadata.tables[AccessRecord.__tablename__]
_CHAINED = ("id", "recorded_at", "clinic_code", "person_ref", "method", "request", "answer")
_SEAL = (
    update(_RECORDS)
    .where(_RECORDS.c.id == bindparam("key"))
    .values(chain_pos=bindparam("pos"), prev_hash=bindparam("prev"), hash=bindparam("digest"))
)
HEAD_ID = 1
SEAL_BATCH = 5000


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class RecordFields(Protocol):
    """What the chain covers of a record: an `AccessRecord` or a row of its columns."""

    id: int
    recorded_at: dt.datetime
    clinic_code: str | None
    person_ref: str | None
    method: str
    request: str
    answer: str


def _canonical(record: RecordFields, pos: int) -> bytes:
    doc = {
        "pos": pos,
        "id": record.id,
        "recorded_at": _utc(record.recorded_at).isoformat(timespec="microseconds"),
        "clinic_code": record.clinic_code,
        "person_ref": record.person_ref,
        "method": record.method,
        "request": record.request,
        "answer": record.answer,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(prev_hash: bytes, record: RecordFields, pos: int) -> bytes:
    return hashlib.sha256(prev_hash + _canonical(record, pos)).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    """A new access record: who asked, when, how, what was asked and what was answered."""

    now: dt.datetime
    clinic_code: str | None
    person_ref: str | None
    method: str
    request: dict[str, Any]
    answer: dict[str, Any]

    def columns(self) -> dict[str, Any]:
        """Its columns (unsealed), ready to insert."""
        return {
            "recorded_at": self.now,
            "clinic_code": self.clinic_code,
            "person_ref": self.person_ref,
            "method": self.method,
            "request": json.dumps(self.request, sort_keys=True, ensure_ascii=False),
            "answer": json.dumps(self.answer, sort_keys=True, ensure_ascii=False),
        }


def append(session: Session | Connection, entry: Entry) -> None:
    """Append one record inside the caller's transaction (it commits or rolls back with it)."""
    session.execute(insert(_RECORDS), entry.columns())


def seal(session: Session, limit: int = SEAL_BATCH) -> int:
    """Chain the unsealed records, oldest first, in the caller's transaction. Returns how many."""
    head = session.scalars(
        select(ChainHead).where(ChainHead.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:
        head = ChainHead(id=HEAD_ID, pos=0, hash=GENESIS)
        session.add(head)
        session.flush()
    records = session.execute(
        select(*(_RECORDS.c[name] for name in _CHAINED))
        .where(_RECORDS.c.chain_pos.is_(None))
        .order_by(_RECORDS.c.id)
        .limit(limit)
    ).all()
    pos, prev = head.pos, head.hash
    sealed: list[dict[str, Any]] = []
    for record in records:
        pos += 1
        digest = record_hash(prev, cast("RecordFields", record), pos)
        sealed.append({"key": record.id, "pos": pos, "prev": prev, "digest": digest})
        prev = digest
    if sealed:
        session.execute(_SEAL, sealed)  # one executemany by primary key
    head.pos, head.hash = pos, prev
    return len(records)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the chain does not hold."""

    pos: int
    reason: str


def verify_chain(session: Session, batch: int = SEAL_BATCH) -> ChainBreak | None:
    """Walk the sealed chain; None if intact, else where it first breaks."""
    prev_hash, expected = GENESIS, 1
    while True:
        rows = session.scalars(
            select(AccessRecord)
            .where(AccessRecord.chain_pos >= expected)
            .order_by(AccessRecord.chain_pos)
            .limit(batch)
        ).all()
        if not rows:
            break
        for record in rows:
            if record.chain_pos != expected:
                return ChainBreak(expected, "record missing")
            if record.prev_hash != prev_hash:
                return ChainBreak(expected, "link to the previous record broken")
            if record.hash != record_hash(prev_hash, record, expected):
                return ChainBreak(expected, "record content changed")
            prev_hash, expected = record.hash, expected + 1
    head = session.get(ChainHead, HEAD_ID)
    if head is not None and (head.pos != expected - 1 or head.hash != prev_hash):
        return ChainBreak(expected, "sealed records after this one were removed")
    return None


def records_about(session: Session, person_ref: str, limit: int = 500) -> list[AccessRecord]:
    """The lookups of one person's data, newest first (what the portal shows them)."""
    return list(
        session.scalars(
            select(AccessRecord)
            .where(AccessRecord.person_ref == person_ref)
            .order_by(AccessRecord.id.desc())
            .limit(limit)
        )
    )
