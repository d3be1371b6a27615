"""The Merkle tree of RFC 9162 §2.1 (Certificate Transparency 2.0), pure: hashing, proofs and
their verification, and the O(log n) operations a database-backed log needs.

Hashing: a leaf is SHA-256(0x00 ‖ data), an inner node SHA-256(0x01 ‖ left ‖ right), the empty
tree SHA-256(""). The tree of n leaves splits at k, the largest power of two below n: its left
part is the perfect tree of the first k leaves, its right part the tree of the others.

Two families of functions:

- over a list of leaf hashes (`root_of`, `inclusion_proof`, `consistency_proof`): the RFC's
  recursive definitions written out plainly, for tests and small trees;
- over stored perfect subtrees (`root_at`, `inclusion_at`, `consistency_at`,
  `append_updates`): a perfect subtree is named by (level, index) and covers leaves
  [index·2^level, (index+1)·2^level). Every node of any tree size is either such a subtree or
  is built from at most log2(n) of them, so a root or a proof costs O(log n) reads, and
  appending a leaf creates at most log2(n)+1 new subtrees.

The verifiers (`verify_inclusion`, `verify_consistency`) are what a person's browser or an
auditor runs; they follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

SubtreeReader = Callable[[int, int], bytes]
"""(level, index) → the hash of the perfect subtree of leaves [index·2^level, (index+1)·2^level)."""


class ProofError(Exception):
    """A proof that does not prove what it claims; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingSubtree(LookupError):
    """A perfect subtree the store should hold and does not: the store is incomplete."""


class SubtreeStore(Protocol):
    """Where a log keeps the hashes of its perfect subtrees (e.g. a table keyed by both)."""

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of subtree (level, index), or None when it is not stored."""
        ...


def reader(store: SubtreeStore) -> SubtreeReader:
    """A reader over `store` that raises `MissingSubtree` rather than answer None."""

    def read(level: int, index: int) -> bytes:
        found = store.get(level, index)
        if found is None:
            raise MissingSubtree(f"subtree ({level}, {index}) is not stored")
        return found

    return read


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf holding `data`: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    # The largest power of two strictly below n (n >= 2).
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# --- Reference implementations over a list (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) ---


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]): the root of the tree whose leaves have these hashes."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf `index`, from the leaf's sibling up."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaf_hashes[:k]), root_of(leaf_hashes[k:])]
    return [*inclusion_proof(index - k, leaf_hashes[k:]), root_of(leaf_hashes[:k])]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of the first `old_size` leaves is a prefix of this one.

    Empty when there is nothing to prove (old size 0 or the same size)."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"a tree of {n} has no prefix of {old_size}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaf_hashes, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete=complete), root_of(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], complete=False), root_of(leaves[:k])]


# --- Verification (RFC 9162 §2.1.3.2, §2.1.4.2) ---


def _check_hashes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        if len(element) != HASH_SIZE:
            raise ProofError(f"proof element {position} is {len(element)} bytes, not {HASH_SIZE}")


def root_from_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that `proof` leads to from leaf `index` of a tree of `tree_size`.

    `ProofError` when the proof cannot belong to that index and size (wrong length)."""
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is not below the tree size {tree_size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"the leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    _check_hashes(proof)
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the path from this leaf to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path from this leaf to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """That the leaf with `leaf_hash` is leaf `index` of the tree of `tree_size` with `root`;
    `ProofError` otherwise.

    The proof does not pin the size (a path can have the same shape in trees of several
    sizes): `root` and `tree_size` must come from one signed checkpoint."""
    if root_from_inclusion(leaf_hash, index, tree_size, proof) != root:
        raise ProofError("the proof leads to another root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """That the tree of `old_size` with `old_root` is a prefix of the tree of `new_size` with
    `new_root`; `ProofError` otherwise."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"the old size {old_size} is not between 0 and the new size {new_size}")
    _check_hashes(proof)
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("two trees of the same size have different roots")
        return
    if old_size == 0:
        # Every tree extends the empty one; there is nothing to prove.
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if _is_power_of_two(old_size):
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the sizes allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the sizes need")
    if fr != old_root:
        raise ProofError("the proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("the proof does not lead to the new root")


# --- Over stored perfect subtrees: O(log n) reads ---


def _range_hash(begin: int, end: int, read: SubtreeReader) -> bytes:
    # The hash of leaves [begin, end) as the tree splits them: `begin` is always a multiple of
    # the largest power of two in end - begin here, so the range is a perfect subtree or the
    # right edge of one, made of popcount(end - begin) perfect subtrees.
    size = end - begin
    if _is_power_of_two(size) and begin % size == 0:
        level = size.bit_length() - 1
        return read(level, begin >> level)
    k = _split(size)
    return node_hash(_range_hash(begin, begin + k, read), _range_hash(begin + k, end, read))


def root_at(size: int, read: SubtreeReader) -> bytes:
    """The root of the first `size` leaves, from at most log2(size)+1 reads."""
    if size < 0:
        raise ValueError(f"a tree has no size {size}")
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, read)


def inclusion_at(index: int, size: int, read: SubtreeReader) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size`, equal to `inclusion_proof`."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    begin, end = 0, size
    top_down: list[bytes] = []
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            top_down.append(_range_hash(begin + k, end, read))
            end = begin + k
        else:
            top_down.append(_range_hash(begin, begin + k, read))
            begin += k
    top_down.reverse()
    return top_down


def consistency_at(old_size: int, new_size: int, read: SubtreeReader) -> list[bytes]:
    """The consistency proof from `old_size` to `new_size`, equal to `consistency_proof`."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"a tree of {new_size} has no prefix of {old_size}")
    if old_size in (0, new_size):
        return []
    begin, end, m, complete = 0, new_size, old_size, True
    top_down: list[bytes] = []
    while True:
        n = end - begin
        if m == n:
            if not complete:
                top_down.append(_range_hash(begin, end, read))
            break
        k = _split(n)
        if m <= k:
            top_down.append(_range_hash(begin + k, end, read))
            end = begin + k
        else:
            top_down.append(_range_hash(begin, begin + k, read))
            begin += k
            m -= k
            complete = False
    top_down.reverse()
    return top_down


def append_updates(
    size: int, new_leaf_hashes: Sequence[bytes], read: SubtreeReader
) -> list[tuple[int, int, bytes]]:
    """Every perfect subtree (level, index, hash) that appending these leaves to a tree of
    `size` completes, leaves first; the caller stores them all.

    A new subtree's left half is read from the store unless this same append made it: one
    leaf appended to a tree of n reads as many subtrees as n has trailing one bits."""
    if size < 0:
        raise ValueError(f"a tree has no size {size}")
    made: dict[tuple[int, int], bytes] = {}
    updates: list[tuple[int, int, bytes]] = []
    for offset, leaf in enumerate(new_leaf_hashes):
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash {offset} is {len(leaf)} bytes, not {HASH_SIZE}")
        level, index, current = 0, size + offset, leaf
        made[(level, index)] = current
        updates.append((level, index, current))
        while index & 1:
            left = made.get((level, index - 1))
            if left is None:
                left = read(level, index - 1)
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            made[(level, index)] = current
            updates.append((level, index, current))
    return updates


class MemoryStore:
    """A `SubtreeStore` in a dict, for tests and tools; `append` keeps it complete."""

    def __init__(self) -> None:
        self.size = 0
        self._nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of subtree (level, index), or None."""
        return self._nodes.get((level, index))

    def append(self, leaf_hashes: Sequence[bytes]) -> None:
        """Adds leaves and every subtree they complete."""
        for level, index, value in append_updates(self.size, leaf_hashes, reader(self)):
            self._nodes[(level, index)] = value
        self.size += len(leaf_hashes)
