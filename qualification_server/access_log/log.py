"""The access log: every lookup, append-only and tamper-evident (docs/domain.md, 情報提供等記録;
docs/access-log.md, "The server's log").

A lookup appends its record inside its own transaction (one INSERT, no shared lock, so
lookups never queue behind each other). Sealing, done by every server instance in the
background (`housekeeping.Housekeeper`) and serialised by the tree head's row lock, gives
the unsealed records their places in the log's RFC 9162 Merkle tree in commit order (id
order): record `chain_pos` is leaf `chain_pos − 1`, whose hash is
`leaf_hash(canonical JSON of the record and its position)`. The head (size, root) is signed
into checkpoints that witnesses cosign (`checkpoints`), so a rewritten, truncated or wiped
log contradicts a checkpoint held outside the database. `verify_chain` recomputes every
leaf and the root. A record is sealed within about a second of its commit; that second is
the window in which it is only append-only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import bindparam, func, insert, select, text, update

from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.receipt import POSITION_FIELD, canonical_json
from qualification_server.access_log import tree
from qualification_server.models import AccessRecord, Base, TreeNode

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

_RECORDS = Base.metadata.tables[AccessRecord.__tablename__]
_NODES = Base.metadata.tables[TreeNode.__tablename__]
_CHAINED = ("id", "recorded_at", "clinic_code", "person_ref", "method", "request", "answer")
# Only a record still unsealed is given a position (a position is never overwritten), and
# that finds it through the small index of the unsealed records (each partition's, on
# PostgreSQL), not by reading every record's key: with 300,000 records in three monthly
# partitions a batch of 5,000 took 1,000 ms to join by id alone, 40 ms this way.
_SEAL = (
    update(_RECORDS)
    .where(_RECORDS.c.id == bindparam("key"), _RECORDS.c.chain_pos.is_(None))
    .values(chain_pos=bindparam("pos"))
)
# The ids in order get positions first, first + 1, … (WITH ORDINALITY numbers them). They
# go as one comma-separated text, split by the database: psycopg dumps a list parameter
# element by element in Python, which cost more than the rest of a seal's statements.
_SEAL_UNNEST = text(
    "UPDATE access_records SET chain_pos = :first + v.n - 1 "
    "FROM unnest(CAST(string_to_array(:ids, ',') AS bigint[])) WITH ORDINALITY AS v(id, n) "
    "WHERE access_records.id = v.id AND access_records.chain_pos IS NULL"
)
SEAL_BATCH = 5000


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class RecordFields(Protocol):
    """What the tree covers of a record: an `AccessRecord`, a row of its columns or a
    `NewRecord` (read-only)."""

    @property
    def id(self) -> int: ...
    @property
    def recorded_at(self) -> dt.datetime: ...
    @property
    def clinic_code(self) -> str | None: ...
    @property
    def person_ref(self) -> str | None: ...
    @property
    def method(self) -> str: ...
    @property
    def request(self) -> str: ...
    @property
    def answer(self) -> str: ...


def record_document(record: RecordFields) -> dict[str, Any]:
    """The fields of a record the log covers, as JSON values (without its position)."""
    return {
        "id": record.id,
        "recorded_at": _utc(record.recorded_at).isoformat(timespec="microseconds"),
        "clinic_code": record.clinic_code,
        "person_ref": record.person_ref,
        "method": record.method,
        "request": record.request,
        "answer": record.answer,
    }


def canonical(record: RecordFields, pos: int) -> bytes:
    """The bytes of record `pos` (1-based) that its leaf holds: JSON of its fields and its
    position, keys sorted, no spaces, UTF-8 (the chain's record bytes, kept as they were).
    A receipt covers the same without the position (`receipt.record_content`)."""
    return canonical_json({**record_document(record), POSITION_FIELD: pos})


def record_leaf(record: RecordFields, pos: int) -> bytes:
    """The leaf hash of record `pos`: `leaf_hash(canonical(record, pos))`."""
    return merkle.leaf_hash(canonical(record, pos))


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record just appended: its id and its columns (`RecordFields`), before sealing."""

    id: int
    recorded_at: dt.datetime
    clinic_code: str | None
    person_ref: str | None
    method: str
    request: str
    answer: str


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


def append(session: Session | Connection, entry: Entry) -> NewRecord:
    """Append one record inside the caller's transaction (it commits or rolls back with it)."""
    columns = entry.columns()
    record_id = session.execute(insert(_RECORDS).returning(_RECORDS.c.id), columns).scalar_one()
    return NewRecord(id=record_id, **columns)


def seal(session: Session, limit: int = SEAL_BATCH) -> int:
    """Append the unsealed records, oldest first, to the tree in the caller's transaction:
    their positions, their leaves and every subtree they complete, and the head. Returns how
    many."""
    head = tree.head(session, lock=True)
    records = session.execute(
        select(*(_RECORDS.c[name] for name in _CHAINED))
        .where(_RECORDS.c.chain_pos.is_(None))
        .order_by(_RECORDS.c.id)
        .limit(limit)
    ).all()
    if not records:
        return 0
    first = head.size + 1
    leaves = [
        record_leaf(cast("RecordFields", record), pos)
        for pos, record in enumerate(records, start=first)
    ]
    if session.get_bind().dialect.name == "postgresql":
        # one UPDATE over two arrays: psycopg sends an executemany as one UPDATE a row
        ids = ",".join(str(r.id) for r in records)
        session.execute(_SEAL_UNNEST, {"ids": ids, "first": first})
    else:  # one executemany by primary key
        session.execute(
            _SEAL, [{"key": r.id, "pos": pos} for pos, r in enumerate(records, start=first)]
        )
    tree.append(session, head, leaves)
    return len(records)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the log does not hold (`pos` is 1-based, leaf `pos − 1`)."""

    pos: int
    reason: str


@dataclass(frozen=True, slots=True)
class Recomputed:
    """The tree as the records make it: its size and root, the root at each size asked for
    that it reaches, and the first break between the records and the stored tree."""

    size: int
    root: bytes
    roots: dict[int, bytes] = field(default_factory=dict)
    broken: ChainBreak | None = None


def recompute(session: Session, sizes: Collection[int] = (), batch: int = SEAL_BATCH) -> Recomputed:
    """Walk the sealed records in order, a batch at a time, recomputing each leaf (compared
    with the stored leaf) and the root of every prefix in `sizes` (for checkpoints); then
    compare the recomputed root with the head's and with the stored nodes'. Memory stays
    O(batch + log n)."""
    wanted = set(sizes)
    compact = tree.CompactRange()
    roots: dict[int, bytes] = {}
    if 0 in wanted:
        roots[0] = merkle.EMPTY_ROOT
    broken: ChainBreak | None = None
    while broken is None:
        expected = compact.size + 1
        rows = session.scalars(
            select(AccessRecord)
            .where(AccessRecord.chain_pos >= expected)
            .order_by(AccessRecord.chain_pos)
            .limit(batch)
        ).all()
        if not rows:
            break
        stored: dict[int, bytes] = dict(
            session.execute(
                select(_NODES.c.idx, _NODES.c.hash).where(
                    _NODES.c.level == 0,
                    _NODES.c.idx >= expected - 1,
                    _NODES.c.idx < expected - 1 + len(rows),
                )
            ).all()
        )
        for record in rows:
            pos = compact.size + 1
            if record.chain_pos is not None and record.chain_pos < pos:  # met again
                broken = ChainBreak(record.chain_pos, "a position is held by more than one record")
                break
            if record.chain_pos != pos:
                broken = ChainBreak(pos, "record missing")
                break
            leaf = record_leaf(record, pos)
            if stored.get(pos - 1) != leaf:
                broken = ChainBreak(pos, "record content changed")
                break
            compact.append(leaf)
            if compact.size in wanted:
                roots[compact.size] = compact.root()
    size, root = compact.size, compact.root()
    if broken is None:
        broken = _check_twice(session, size)
    if broken is None:
        broken = _check_head(session, size, root)
    return Recomputed(size, root, roots, broken)


def _check_twice(session: Session, size: int) -> ChainBreak | None:
    # The walk reads from the position after the last one it checked: a second record at a
    # position just past a batch's end is not met. On PostgreSQL's partitions no index keeps
    # a position to one record across months (docs/partitions.md); counting them does.
    sealed = session.scalar(
        select(func.count()).select_from(_RECORDS).where(_RECORDS.c.chain_pos.is_not(None))
    )
    if sealed == size:
        return None
    twice = session.scalar(
        select(_RECORDS.c.chain_pos)
        .where(_RECORDS.c.chain_pos.is_not(None))
        .group_by(_RECORDS.c.chain_pos)
        .having(func.count() > 1)
        .order_by(_RECORDS.c.chain_pos)
        .limit(1)
    )
    if twice is None:
        return ChainBreak(size, f"{sealed} records are sealed, the tree holds {size}")
    return ChainBreak(int(twice), "a position is held by more than one record")


def _check_head(session: Session, size: int, root: bytes) -> ChainBreak | None:
    head = tree.head(session)
    if head.size > size:
        return ChainBreak(size + 1, "sealed records after this one were removed")
    if head.size < size:
        return ChainBreak(head.size + 1, "records sealed beyond the tree head")
    if head.root != root:
        return ChainBreak(size, "the tree head's root is not the records' root")
    try:
        stored = tree.root(session, size)
    except merkle.MissingSubtree as exc:
        return ChainBreak(size, f"the stored tree is incomplete: {exc}")
    if stored != root:
        return ChainBreak(size, "the stored tree's root is not the records' root")
    return None


def verify_chain(session: Session, batch: int = SEAL_BATCH) -> ChainBreak | None:
    """Recompute the sealed records' tree; None if the records, the stored tree and its head
    agree, else where they first differ. Against an insider who recomputes everything only
    the checkpoints held outside the database help (`checkpoints.audit`)."""
    return recompute(session, batch=batch).broken


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
