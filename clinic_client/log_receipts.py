"""The clinic's book of log receipts: every answer's `Onshi-Log-Receipt`, kept so that the
clinic can later prove each of its lookups is in the server's access log
(`clinic log check-receipts`; docs/access-log.md, "Receipts: the unsealed window").

A receipt names record ids and content digests, never a person or a number: the book holds
no personal data. It is a JSON-lines file, appended under an exclusive lock (the desk, the
connector and the reader page may share one) and flushed to disk before the answer is used,
so a receipt is not lost to a crash that the answer survives.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinic_client.log_audit import LogAuditor, VerifiedCheckpoint
from onshi_kernel.files import atomic_write
from onshi_kernel.transparency.merkle import ProofError, leaf_hash, verify_inclusion
from onshi_kernel.transparency.note import Ed25519Verifier, NoteError
from onshi_kernel.transparency.receipt import (
    POSITION_FIELD,
    Receipt,
    ReceiptError,
    content_digest,
    decode_header,
    leaf_document,
    open_receipt,
)
from qualification_server.contract.log import MAX_PROOF_IDS


@dataclass(frozen=True, slots=True)
class KeptReceipt:
    """A receipt as the book keeps it: the header's value, when and from which route."""

    receipt: str
    kept_at: dt.datetime
    route: str

    def line(self) -> str:
        """Its line in the book."""
        return json.dumps(
            {"receipt": self.receipt, "kept_at": self.kept_at.isoformat(), "route": self.route},
            separators=(",", ":"),
        )


class ReceiptBookError(ValueError):
    """A book line that is not a kept receipt (`line` names it, 1-based)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}: line {line}: {reason}")
        self.line = line


class ReceiptBook:
    """The receipts file at `path` (created with its directory on the first receipt)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # A lock file of its own: `forget` replaces the book, and a writer waiting on the
        # book's own inode would append to the replaced one.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def keep(self, receipt: str, route: str, now: dt.datetime | None = None) -> None:
        """Append one receipt, on disk before this returns."""
        kept = KeptReceipt(receipt, now or dt.datetime.now(dt.UTC), route)
        with self._locked(), open(self.path, "a", encoding="utf-8") as file:
            file.write(kept.line() + "\n")
            file.flush()
            os.fsync(file.fileno())

    def read(self) -> list[KeptReceipt]:
        """Every receipt kept, oldest first; `ReceiptBookError` names a line that is not one."""
        with self._locked():
            return self._read()

    def _read(self) -> list[KeptReceipt]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as file:
            return [_parse(self.path, n, line) for n, line in enumerate(file, 1) if line.strip()]

    def forget(self, done: set[str]) -> int:
        """Drop the receipts whose value is in `done` (verified: the witnessed log holds their
        records from now on); keeps the rest, and any kept meanwhile. Returns how many went."""
        with self._locked():
            receipts = self._read()
            kept = [r for r in receipts if r.receipt not in done]
            if len(kept) != len(receipts):
                atomic_write(self.path, "".join(r.line() + "\n" for r in kept).encode())
        return len(receipts) - len(kept)


def _parse(path: Path, number: int, line: str) -> KeptReceipt:
    try:
        document = json.loads(line)
        return KeptReceipt(
            receipt=str(document["receipt"]),
            kept_at=dt.datetime.fromisoformat(document["kept_at"]),
            route=str(document.get("route", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ReceiptBookError(path, number, f"not a kept receipt ({exc})") from None


# How long the log may take to put a record in a witnessed checkpoint before a clinic calls
# it overdue: sealing (about a second), the checkpoint interval (10 s) and the witnesses'
# round trip, with room for a restart. The server's promise; a deployment may set its own.
DEFAULT_GRACE = dt.timedelta(minutes=5)


class Verdict(enum.Enum):
    """How a receipt came out. Only `MISSING`, `CHANGED` and `INVALID_PROOF` hold against
    the log: it signed for records it does not hold as signed."""

    VERIFIED = "verified"  # every record in the witnessed tree, as signed
    PENDING = "pending"  # not yet in a witnessed checkpoint, within the grace
    OVERDUE = "overdue"  # still not in a witnessed checkpoint after the grace
    MISSING = "missing"  # the log has no such record: it was removed
    CHANGED = "changed"  # the record in the log is not the one the receipt was given for
    INVALID_PROOF = "invalid proof"  # the record's proof does not verify
    NOT_A_RECEIPT = "not a receipt"  # not signed by the log's key: proves nothing


AGAINST_THE_LOG = frozenset({Verdict.MISSING, Verdict.CHANGED, Verdict.INVALID_PROOF})
_WORST_FIRST = [
    Verdict.MISSING, Verdict.CHANGED, Verdict.INVALID_PROOF, Verdict.NOT_A_RECEIPT,
    Verdict.OVERDUE, Verdict.PENDING, Verdict.VERIFIED,
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """One kept receipt, checked: its verdict and, per record, what was found."""

    kept: KeptReceipt
    verdict: Verdict
    records: tuple[tuple[int, Verdict, str], ...]  # (record id, verdict, reason)
    made_at: dt.datetime | None = None


def check_receipts(
    auditor: LogAuditor,
    kept: Sequence[KeptReceipt],
    *,
    token: str,
    log_key: str,
    origin: str | None = None,
    now: dt.datetime | None = None,
    grace: dt.timedelta = DEFAULT_GRACE,
) -> tuple[VerifiedCheckpoint | None, list[ReceiptCheck]]:
    """Check each kept receipt against the log: its signature with `log_key`, then each of
    its records' bytes and inclusion proof in the latest witnessed checkpoint (verified with
    the auditor's keys). A record the log does not have, or has with other content, holds
    against the log at once; one not yet witnessed is pending until `grace` after it was
    made, then overdue."""
    now = now or dt.datetime.now(dt.UTC)
    log = Ed25519Verifier.from_key(log_key)
    opened: list[tuple[KeptReceipt, Receipt | None, str]] = []
    for one in kept:
        try:
            opened.append((one, open_receipt(decode_header(one.receipt), log, origin), ""))
        except NoteError as exc:
            opened.append((one, None, exc.reason))
    ids = sorted({i for _, receipt, _ in opened if receipt for i, _ in receipt.records})
    checkpoint: VerifiedCheckpoint | None = None
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), MAX_PROOF_IDS):
        answer = auditor.record_proofs(ids[start : start + MAX_PROOF_IDS], token)
        note = answer.get("checkpoint")
        if isinstance(note, str) and (checkpoint is None or checkpoint.note != note):
            checkpoint = auditor.verified(note)
        found.update({int(r["id"]): r for r in answer.get("records", [])})
    checks = []
    for one, receipt, reason in opened:
        if receipt is None:
            checks.append(
                ReceiptCheck(one, Verdict.NOT_A_RECEIPT, ((0, Verdict.NOT_A_RECEIPT, reason),))
            )
            continue
        late = now - receipt.made_at > grace
        results = tuple(
            (record_id, *_record(found.get(record_id), record_id, digest, checkpoint, late))
            for record_id, digest in receipt.records
        )
        verdict = next(v for v in _WORST_FIRST if any(r[1] is v for r in results))
        checks.append(ReceiptCheck(one, verdict, results, receipt.made_at))
    return checkpoint, checks


def _record(
    given: dict[str, Any] | None,
    record_id: int,
    digest: bytes,
    checkpoint: VerifiedCheckpoint | None,
    late: bool,
) -> tuple[Verdict, str]:
    state = given.get("state") if given else None
    if given is None or state == "not found":
        return Verdict.MISSING, "the log has no such record of this clinic's"
    waiting = Verdict.OVERDUE if late else Verdict.PENDING
    if checkpoint is None:
        return waiting, "no witnessed checkpoint yet"
    if state != "included":
        return waiting, f"{state} (the witnessed tree has {checkpoint.checkpoint.size} records)"
    try:
        leaf = base64.b64decode(given["leaf"], validate=True)
        index = int(given["leaf_index"])
        proof = [base64.b64decode(h, validate=True) for h in given["inclusion_proof"]]
    except (KeyError, TypeError, ValueError):
        return Verdict.INVALID_PROOF, "the server's proof is malformed"
    try:
        verify_inclusion(
            leaf_hash(leaf), index, checkpoint.checkpoint.size, proof, checkpoint.checkpoint.root
        )
    except ProofError as exc:
        return Verdict.INVALID_PROOF, f"leaf {index} is not in the witnessed tree: {exc.reason}"
    try:
        document = leaf_document(leaf)
    except ReceiptError as exc:
        return Verdict.CHANGED, exc.reason
    if document.get("id") != record_id or document.get(POSITION_FIELD) != index + 1:
        return Verdict.CHANGED, f"leaf {index} holds another record"
    if content_digest(document) != digest:
        return Verdict.CHANGED, f"leaf {index}: the record's content is not what was signed"
    return Verdict.VERIFIED, f"leaf {index}"
