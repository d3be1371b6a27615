"""An outsider's checks of the server's access log (docs/access-log.md): that a checkpoint is
signed by the log and cosigned by the witnesses one trusts, that a later checkpoint extends an
earlier one (a consistency proof the server must give), and that a record is in the tree (an
inclusion proof). It trusts only the keys it is given and what it verifies itself: the server
is asked for proofs, never believed.

An auditor keeps the last checkpoint it verified (`audit`, a state file): each run, the
server's latest must extend it. A log rewritten by an insider (a record edited and every hash
recomputed, the newest records deleted, everything wiped) cannot give that proof.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from onshi_kernel.files import atomic_write
from onshi_kernel.transparency.checkpoint import (
    Checkpoint,
    WitnessVerifier,
    open_checkpoint,
    verify_cosignature,
)
from onshi_kernel.transparency.merkle import (
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from onshi_kernel.transparency.note import Ed25519Verifier, NoteError


class AuditFailed(Exception):
    """The log does not hold up: the message says what did not verify."""


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature and witnesses' cosignatures verified."""

    checkpoint: Checkpoint
    note: str
    witnessed: tuple[tuple[str, dt.datetime], ...]  # (witness name, when it cosigned)

    def describe(self) -> str:
        """One line: size, root, and who witnessed it when."""
        root = base64.b64encode(self.checkpoint.root).decode()
        by = ", ".join(f"{name} at {at.isoformat()}" for name, at in self.witnessed) or "nobody"
        return f"tree size {self.checkpoint.size} root {root} witnessed by {by}"


def verify_checkpoint_note(
    note: str, log_key: str, witness_keys: Sequence[str], origin: str | None = None
) -> VerifiedCheckpoint:
    """`note` opened with the log's key; every witness key given must have cosigned it."""
    try:
        checkpoint = open_checkpoint(note, Ed25519Verifier.from_key(log_key), origin)
    except (NoteError, ValueError) as exc:
        raise AuditFailed(f"the checkpoint is not signed by the log's key: {exc}") from None
    witnessed = []
    for key in witness_keys:
        witness = WitnessVerifier.from_key(key)
        try:
            witnessed.append((witness.name, verify_cosignature(note, witness)))
        except NoteError as exc:
            raise AuditFailed(f"witness {witness.name} did not cosign it: {exc}") from None
    return VerifiedCheckpoint(checkpoint, note, tuple(witnessed))


def _hashes(answer: httpx.Response) -> list[bytes]:
    if answer.status_code != 200:
        raise AuditFailed(f"the server refused the proof ({answer.status_code}): {answer.text}")
    return [base64.b64decode(h, validate=True) for h in answer.json()["hashes"]]


@dataclass(frozen=True, slots=True)
class RecordCheck:
    """How one record of a person's access history came out."""

    recorded_at: str | None
    leaf_index: int | None
    verdict: str  # "verified", "pending" (not yet in a witnessed tree) or "failed"
    reason: str = ""


def verify_history(
    document: dict[str, object], log_key: str, witness_keys: Sequence[str], origin: str | None
) -> tuple[VerifiedCheckpoint | None, list[RecordCheck]]:
    """Check a saved access history (the portal's 「証明データを保存」, or the server's answer):
    its checkpoint with the keys given, then every record's inclusion proof in that tree.
    Works offline: everything needed is in the document, nothing is asked of the server."""
    note = document.get("checkpoint")
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise AuditFailed("the file holds no entries: not an access history")
    checkpoint = (
        verify_checkpoint_note(note, log_key, witness_keys, origin)
        if isinstance(note, str)
        else None
    )
    checks = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise AuditFailed("an entry is not an object")
        when, index, proof = (
            entry.get("recorded_at"),
            entry.get("leaf_index"),
            entry.get("inclusion_proof"),
        )
        leaf = entry.get("leaf")
        if checkpoint is None or proof is None or leaf is None or not isinstance(index, int):
            checks.append(RecordCheck(when, index if isinstance(index, int) else None, "pending"))
            continue
        try:
            hashes = [base64.b64decode(h, validate=True) for h in proof]
            verify_inclusion(
                leaf_hash(base64.b64decode(leaf, validate=True)), index,
                checkpoint.checkpoint.size, hashes, checkpoint.checkpoint.root,
            )  # fmt: skip
        except (ProofError, ValueError, TypeError) as exc:
            checks.append(RecordCheck(when, index, "failed", str(exc)))
            continue
        checks.append(RecordCheck(when, index, "verified"))
    return checkpoint, checks


class LogAuditor:
    """Asks the server at `server_url` for checkpoints and proofs, and verifies them with the
    log's key and the witnesses' keys (C2SP verifier key strings)."""

    def __init__(
        self,
        server_url: str,
        *,
        log_key: str,
        witness_keys: Sequence[str],
        origin: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._client = client or httpx.Client(base_url=server_url, timeout=10.0)
        self._log_key = log_key
        self._witness_keys = list(witness_keys)
        self._origin = origin

    def latest(self) -> VerifiedCheckpoint:
        """The server's latest checkpoint, verified."""
        answer = self._client.get("/v1/log/checkpoint")
        if answer.status_code != 200:
            raise AuditFailed(f"the server gave no checkpoint ({answer.status_code})")
        return self.verified(answer.text)

    def verified(self, note: str) -> VerifiedCheckpoint:
        """`note` verified with this auditor's keys."""
        return verify_checkpoint_note(note, self._log_key, self._witness_keys, self._origin)

    def check_extends(self, old: VerifiedCheckpoint, new: VerifiedCheckpoint) -> None:
        """That `new` extends `old`: the same tree up to `old`'s size; `AuditFailed` if not."""
        a, b = old.checkpoint, new.checkpoint
        if b.size < a.size:
            raise AuditFailed(f"the log shrank: size {a.size} before, {b.size} now")
        if b.size == a.size:
            if a.root != b.root:
                raise AuditFailed(f"two different trees of size {a.size}: the log was rewritten")
            return
        proof = _hashes(
            self._client.get("/v1/log/consistency", params={"old": a.size, "new": b.size})
        )
        try:
            verify_consistency(a.size, b.size, a.root, b.root, proof)
        except ProofError as exc:
            raise AuditFailed(
                f"size {b.size} does not extend size {a.size}: {exc.reason}"
            ) from None

    def check_included(self, leaf: bytes, index: int, checkpoint: VerifiedCheckpoint) -> None:
        """That `leaf` (a record's bytes) is leaf `index` of `checkpoint`'s tree."""
        size = checkpoint.checkpoint.size
        proof = _hashes(
            self._client.get("/v1/log/inclusion", params={"index": index, "size": size})
        )
        try:
            verify_inclusion(leaf_hash(leaf), index, size, proof, checkpoint.checkpoint.root)
        except ProofError as exc:
            raise AuditFailed(
                f"leaf {index} is not in the tree of size {size}: {exc.reason}"
            ) from None

    def record_proofs(self, ids: Sequence[int], token: str) -> dict[str, Any]:
        """The server's answer on the clinic's own records `ids` (the clinic's credential
        `token`): the latest witnessed checkpoint and each record's state and proof, as
        given (nothing in it is believed before it verifies)."""
        answer = self._client.post(
            "/v1/log/records/proofs",
            json={"ids": list(ids)},
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer.status_code != 200:
            raise AuditFailed(
                f"the server refused the proofs ({answer.status_code}): {answer.text}"
            )
        document: dict[str, Any] = answer.json()
        return document

    def audit(self, state: Path) -> tuple[VerifiedCheckpoint | None, VerifiedCheckpoint]:
        """Verify the latest checkpoint extends the one kept in `state` (if any), then keep
        the latest. Returns (the kept one, the latest)."""
        kept = self.verified(state.read_text()) if state.exists() else None
        latest = self.latest()
        if kept is not None:
            self.check_extends(kept, latest)
        atomic_write(state, latest.note.encode())
        return kept, latest

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
