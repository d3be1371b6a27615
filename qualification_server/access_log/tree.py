"""The access log's Merkle tree in the database: its perfect subtrees (`access_tree_nodes`)
read and appended through `onshi_kernel.transparency.merkle`, and the roots and proofs the
public routes and the witnesses are given.

A node is written once, when the leaves it covers are all sealed, and never changed: any
root or proof of any size up to the head's is built from at most 2·log2(n) of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import insert, select, text, tuple_

from onshi_kernel.transparency import merkle
from qualification_server.models import Base, TreeHead, TreeNode

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

HEAD_ID = 1
T = TypeVar("T")
_NODES = Base.metadata.tables[TreeNode.__tablename__]


# Nodes looked up at most this many to a query.
FETCH_CHUNK = 2000
# On PostgreSQL the new nodes go in one INSERT: an executemany is one INSERT a row over
# psycopg's pipeline, and a multi-row VALUES costs SQLAlchemy more to compile than the
# database to run (each took two thirds of a seal). Nor do they go as arrays: psycopg dumps a
# list element by element in Python (a bytea one through a regular expression each), which
# took a third of a seal's CPU. The levels and indexes go as comma-separated texts, the
# hashes as one bytea of them end to end, cut into `HASH_SIZE` pieces by the database.
# SQLite's executemany is its own loop.
_UNNEST = text(
    "INSERT INTO access_tree_nodes (level, idx, hash) "
    "SELECT v.level, v.idx, substring(CAST(:hashes AS bytea) "
    "FROM CAST(:size * (v.n - 1) + 1 AS integer) FOR CAST(:size AS integer)) "
    "FROM unnest(CAST(string_to_array(:levels, ',') AS integer[]), "
    "CAST(string_to_array(:idxs, ',') AS bigint[])) WITH ORDINALITY AS v(level, idx, n)"
)


class StoredNodes:
    """The `SubtreeStore` of one session, with the nodes this session is about to write
    seen before they are flushed (an append reads what it just made), and those a
    computation will read fetched in one query (`prefetch`)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of subtree (level, index), or None when it is not stored."""
        known = self._known.get((level, index))
        if known is not None:
            return known
        return self._session.execute(
            select(_NODES.c.hash).where(_NODES.c.level == level, _NODES.c.idx == index)
        ).scalar_one_or_none()

    def remember(self, updates: Sequence[tuple[int, int, bytes]]) -> None:
        """Nodes written in this transaction, to be read without a round trip."""
        for level, index, value in updates:
            self._known[(level, index)] = value

    def prefetch(self, compute: Callable[[merkle.SubtreeReader], object]) -> None:
        """Fetch in one query every node `compute` reads. Which nodes a root, a proof or an
        append reads depends on the sizes and indexes only, never on the hashes: a dry run
        over placeholder hashes names them all."""
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return bytes(merkle.HASH_SIZE)

        compute(record)
        missing = sorted(wanted - self._known.keys())
        for start in range(0, len(missing), FETCH_CHUNK):
            chunk = missing[start : start + FETCH_CHUNK]
            rows = self._session.execute(
                select(_NODES.c.level, _NODES.c.idx, _NODES.c.hash).where(
                    tuple_(_NODES.c.level, _NODES.c.idx).in_(chunk)
                )
            )
            for level, index, value in rows:
                self._known[(level, index)] = value

    def read(self, compute: Callable[[merkle.SubtreeReader], T]) -> T:
        """`compute` over the stored nodes, prefetched."""
        self.prefetch(compute)
        return compute(merkle.reader(self))


def head(session: Session, *, lock: bool = False) -> TreeHead:
    """The tree head (created empty when missing); `lock` takes its row lock, which admits
    one sealer at a time."""
    query = select(TreeHead).where(TreeHead.id == HEAD_ID)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        found = TreeHead(id=HEAD_ID, size=0, root=merkle.EMPTY_ROOT)
        session.add(found)
        session.flush()
    return found


def append(session: Session, current: TreeHead, leaves: Sequence[bytes]) -> None:
    """Append leaf hashes to the tree under the locked `current` head: every subtree they
    complete is inserted and the head moved, in the caller's transaction."""
    if not leaves:
        return
    store = StoredNodes(session)
    size = current.size + len(leaves)

    def plan(read: merkle.SubtreeReader) -> None:
        # The append and the new root, so that one query fetches what both read.
        made = {(lv, ix): h for lv, ix, h in merkle.append_updates(current.size, leaves, read)}
        merkle.root_at(size, lambda lv, ix: made.get((lv, ix)) or read(lv, ix))

    store.prefetch(plan)
    updates = merkle.append_updates(current.size, leaves, merkle.reader(store))
    if session.get_bind().dialect.name == "postgresql":
        if any(len(h) != merkle.HASH_SIZE for _, _, h in updates):
            raise ValueError(f"a tree node's hash is {merkle.HASH_SIZE} bytes")
        session.execute(
            _UNNEST,
            {
                "levels": ",".join(str(lv) for lv, _, _ in updates),
                "idxs": ",".join(str(ix) for _, ix, _ in updates),
                "hashes": b"".join(h for _, _, h in updates),
                "size": merkle.HASH_SIZE,
            },
        )
    else:
        session.execute(
            insert(_NODES), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in updates]
        )
    store.remember(updates)
    current.size, current.root = size, merkle.root_at(size, merkle.reader(store))


def root(session: Session, size: int) -> bytes:
    """The root of the first `size` leaves, from the stored nodes (one query)."""
    return StoredNodes(session).read(lambda read: merkle.root_at(size, read))


def inclusion(session: Session, index: int, size: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` (one query)."""
    return StoredNodes(session).read(lambda read: merkle.inclusion_at(index, size, read))


def inclusions(session: Session, indexes: Sequence[int], size: int) -> dict[int, list[bytes]]:
    """The audit paths of several leaves in the tree of `size`, every node fetched together (a
    person's history or a clinic's receipts: hundreds of records)."""
    return StoredNodes(session).read(
        lambda read: {index: merkle.inclusion_at(index, size, read) for index in indexes}
    )


def consistency(session: Session, old_size: int, new_size: int) -> list[bytes]:
    """The proof that the tree of `old_size` is a prefix of the tree of `new_size` (one
    query)."""
    return StoredNodes(session).read(lambda read: merkle.consistency_at(old_size, new_size, read))


class CompactRange:
    """The tree of a stream of leaves kept as its perfect subtrees on the right edge (at
    most log2(n)+1 hashes): the root of every prefix without holding the leaves."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # the perfect subtrees, largest first

    def append(self, leaf: bytes) -> None:
        """Adds one leaf hash."""
        self._stack.append(leaf)
        self.size += 1
        merges = self.size
        while merges & 1 == 0:
            right = self._stack.pop()
            self._stack[-1] = merkle.node_hash(self._stack[-1], right)
            merges >>= 1

    def root(self) -> bytes:
        """The root of the leaves appended so far."""
        if not self._stack:
            return merkle.EMPTY_ROOT
        current = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            current = merkle.node_hash(left, current)
        return current
