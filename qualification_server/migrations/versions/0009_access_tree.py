"""access log: the hash chain becomes an RFC 9162 Merkle tree (its perfect subtrees, its head)
with signed checkpoints; the old chain is verified first and every sealed record keeps its
place

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:00:00

Upgrade refuses a broken chain (it would otherwise be sealed into the tree as if intact):
repair or explain it first. Each sealed record's leaf is the chain's own record bytes (the
canonical JSON of the record and its position), so no record moves. Downgrade rebuilds the
chain from the records in tree order; the checkpoints and their cosignatures are lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from onshi_kernel.transparency import merkle

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
_GENESIS = bytes(32)
# Frozen copies of the tables as this revision sees them (the models move on).
_meta = sa.MetaData()
_records = sa.Table(
    "access_records",
    _meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True)),
    sa.Column("clinic_code", sa.String(10)),
    sa.Column("person_ref", sa.String(64)),
    sa.Column("method", sa.String(16)),
    sa.Column("request", sa.Text()),
    sa.Column("answer", sa.Text()),
    sa.Column("chain_pos", sa.BigInteger()),
    sa.Column("prev_hash", sa.LargeBinary(32)),
    sa.Column("hash", sa.LargeBinary(32)),
)
_chain_head = sa.Table(
    "access_chain_head",
    _meta,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("pos", sa.BigInteger()),
    sa.Column("hash", sa.LargeBinary(32)),
)
_nodes = sa.Table(
    "access_tree_nodes",
    _meta,
    sa.Column("level", sa.Integer(), primary_key=True),
    sa.Column("idx", sa.BigInteger(), primary_key=True),
    sa.Column("hash", sa.LargeBinary(32)),
)
_tree_head = sa.Table(
    "access_tree_head",
    _meta,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("size", sa.BigInteger()),
    sa.Column("root", sa.LargeBinary(32)),
)
_FIELDS = ("id", "recorded_at", "clinic_code", "person_ref", "method", "request", "answer")


class BrokenChain(RuntimeError):
    """The chain to migrate does not verify; nothing was changed."""


def _canonical(row: Any, pos: int) -> bytes:
    moment = row.recorded_at
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    doc = {
        "pos": pos,
        "id": row.id,
        "recorded_at": moment.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "clinic_code": row.clinic_code,
        "person_ref": row.person_ref,
        "method": row.method,
        "request": row.request,
        "answer": row.answer,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sealed(connection: sa.Connection, *extra: str) -> Iterator[list[Any]]:
    # The sealed records in chain order, a batch at a time (keyset pagination).
    after = 0
    columns = [_records.c[name] for name in (*_FIELDS, "chain_pos", *extra)]
    while True:
        rows = connection.execute(
            sa.select(*columns)
            .where(_records.c.chain_pos > after)
            .order_by(_records.c.chain_pos)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield list(rows)
        after = rows[-1].chain_pos


def _verify_chain(connection: sa.Connection) -> int:
    prev, expected = _GENESIS, 1
    for rows in _sealed(connection, "prev_hash", "hash"):
        for row in rows:
            if row.chain_pos != expected:
                raise BrokenChain(f"record {expected} is missing")
            if row.prev_hash != prev:
                raise BrokenChain(f"record {expected}: the link to the previous one is broken")
            if row.hash != hashlib.sha256(prev + _canonical(row, expected)).digest():
                raise BrokenChain(f"record {expected}: its content changed")
            prev, expected = row.hash, expected + 1
    head = connection.execute(sa.select(_chain_head).where(_chain_head.c.id == 1)).one_or_none()
    sealed = expected - 1
    if head is not None and (head.pos != sealed or head.hash != prev):
        raise BrokenChain(f"the chain head says {head.pos} records, the chain has {sealed}")
    if head is None and sealed:
        raise BrokenChain(f"the chain has {sealed} records and no head")
    return sealed


def _build_tree(connection: sa.Connection) -> tuple[int, bytes]:
    def read(level: int, index: int) -> bytes:
        found = made.get((level, index))
        if found is None:
            found = connection.execute(
                sa.select(_nodes.c.hash).where(_nodes.c.level == level, _nodes.c.idx == index)
            ).scalar_one()
        return found

    size = 0
    made: dict[tuple[int, int], bytes] = {}
    for rows in _sealed(connection):
        leaves = [merkle.leaf_hash(_canonical(row, row.chain_pos)) for row in rows]
        updates = merkle.append_updates(size, leaves, read)
        connection.execute(
            sa.insert(_nodes), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in updates]
        )
        size += len(leaves)
        made = {(lv, ix): h for lv, ix, h in updates}
    return size, merkle.root_at(size, read)


def upgrade() -> None:
    connection = op.get_bind()
    try:
        sealed = _verify_chain(connection)
    except BrokenChain as exc:
        raise BrokenChain(
            f"the access log's chain does not verify ({exc}); it is not migrated to the tree, "
            "which would seal the damage in as if intact: restore the database from a backup "
            "or record what happened, then migrate"
        ) from None
    op.create_table(
        "access_tree_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "access_tree_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "access_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("witnessed_note", sa.Text(), nullable=True),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("size"),
    )
    size, root = _build_tree(connection)
    if size != sealed:
        raise BrokenChain(f"{sealed} records verified, {size} put in the tree")
    connection.execute(sa.insert(_tree_head).values(id=1, size=size, root=root))
    op.drop_table("access_chain_head")
    # Plain ALTER on both (SQLite >= 3.35): a batch rebuild of SQLite's table would have to
    # recreate its partial indexes.
    op.execute("ALTER TABLE access_records DROP COLUMN prev_hash")
    op.execute("ALTER TABLE access_records DROP COLUMN hash")


def downgrade() -> None:
    connection = op.get_bind()
    op.add_column("access_records", sa.Column("prev_hash", sa.LargeBinary(32), nullable=True))
    op.add_column("access_records", sa.Column("hash", sa.LargeBinary(32), nullable=True))
    op.create_table(
        "access_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    update = (
        sa.update(_records)
        .where(_records.c.id == sa.bindparam("key"))
        .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("digest"))
    )
    prev, pos = _GENESIS, 0
    for rows in _sealed(connection):
        changes = []
        for row in rows:
            pos = row.chain_pos
            digest = hashlib.sha256(prev + _canonical(row, pos)).digest()
            changes.append({"key": row.id, "prev": prev, "digest": digest})
            prev = digest
        connection.execute(update, changes)
    connection.execute(sa.insert(_chain_head).values(id=1, pos=pos, hash=prev))
    op.drop_table("access_checkpoints")
    op.drop_table("access_tree_head")
    op.drop_table("access_tree_nodes")
