"""The access log's checkpoints: the tree head signed by the server (a C2SP checkpoint in an
Ed25519 signed note), cosigned by witnesses, and the audit that holds the records against
them (docs/access-log.md, "The server's log").

The database alone proves nothing against whoever can write to it: they can edit a record and
recompute every hash. A witness is a separate process that keeps the largest checkpoint it
cosigned and cosigns a new one only with a consistency proof from it; once it holds a
checkpoint, a log that was rewritten, truncated or wiped below it no longer has that root at
that size, and `audit` says so. A witness that is down delays cosigning, never sealing: the
next interval retries.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from onshi_kernel.transparency.checkpoint import (
    Checkpoint,
    WitnessVerifier,
    cosignature_time,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from onshi_kernel.transparency.note import (
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    NoteSignature,
    split_note,
)
from qualification_server.access_log import log as access_log
from qualification_server.access_log import tree
from qualification_server.models import LogCheckpoint
from qualification_server.witness.client import WitnessClient, WitnessConflict, add_cosignatures

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from qualification_server.settings import Settings

log = logging.getLogger(__name__)


class Witness(Protocol):
    """What the log needs of a witness: `WitnessClient` or a stand-in of the same shape.

    `add_checkpoint` raises `WitnessConflict(size)` when the witness's last size is not
    `old_size`, `WitnessRefused` or `WitnessUnavailable` otherwise."""

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> list[str]:
        """The witness's cosignature lines for `note`, proven consistent from `old_size`."""
        ...

    def latest(self, origin: str) -> str | None:
        """The latest checkpoint of `origin` the witness cosigned, with its cosignature."""
        ...


def latest_witnessed(session: Session) -> LogCheckpoint | None:
    """The largest checkpoint a witness cosigned, as stored (None before the first)."""
    return session.scalars(
        select(LogCheckpoint)
        .where(LogCheckpoint.witnessed_note.is_not(None))
        .order_by(LogCheckpoint.size.desc())
        .limit(1)
    ).one_or_none()


def connect_witness(url: str) -> Witness:
    """The witness at `url` (its HTTP client)."""
    return WitnessClient(url)


def load_signer(settings: Settings) -> Ed25519Signer:
    """The log's checkpoint key from `ONSHI_LOG_SIGNING_KEY_FILE`; in development, unset, a
    key generated once under var/ (settings refuse it unset elsewhere)."""
    path = settings.log_key_file
    if settings.log_signing_key_file is None and not path.exists():
        _write_new_key(path, settings.log_origin)
    try:
        return Ed25519Signer.from_key(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        reason = getattr(exc, "reason", type(exc).__name__)
        raise ValueError(
            f"ONSHI_LOG_SIGNING_KEY_FILE {path}: not a note signer key ({reason})"
        ) from None


def _write_new_key(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".log-key-")
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(Ed25519Signer.generate(name).key_string() + "\n")
    try:
        os.link(temporary, path)  # another process's key, made first, wins: one key for all
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


@dataclass(frozen=True, slots=True)
class LogIdentity:
    """Who the log is: its origin and its checkpoint key."""

    origin: str
    signer: Ed25519Signer

    @property
    def verifier(self) -> Ed25519Verifier:
        """The log's public key."""
        return self.signer.verifier()


class Checkpointer:
    """Signs a checkpoint when the tree grew and has it cosigned by every witness (called by
    the housekeeper every `interval_s`). Remembers each witness's last size, starting from
    none (a conflict tells it)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        identity: LogIdentity,
        witnesses: Sequence[Witness] = (),
        *,
        interval_s: float = 10.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        witness_keys: Sequence[WitnessVerifier] = (),
    ) -> None:
        """With `witness_keys`, only cosignatures that verify with one of them are stored
        (a witness, or whatever answers at its URL, that sends another is reported)."""
        self._sessions = sessions
        self.identity = identity
        self._witnesses = tuple(witnesses)
        self._witness_keys = tuple(witness_keys)
        self.interval_s = interval_s
        self._clock = clock
        self._sizes: dict[int, int] = {}

    @classmethod
    def from_settings(cls, sessions: sessionmaker[Session], settings: Settings) -> Checkpointer:
        """The checkpointer the settings describe (key, origin, interval, witnesses)."""
        identity = LogIdentity(settings.log_origin, load_signer(settings))
        witnesses = [connect_witness(url) for url in settings.log_witness_urls]
        keys = [WitnessVerifier.from_key(key) for key in settings.log_witness_keys]
        return cls(
            sessions, identity, witnesses, interval_s=settings.log_checkpoint_interval_s,
            witness_keys=keys,
        )  # fmt: skip

    def run_once(self) -> LogCheckpoint | None:
        """Sign a checkpoint if the tree grew, then submit the latest to the witnesses."""
        signed = self.sign_now()
        self.witness_now()
        return signed

    def sign_now(self, *, first_even_if_empty: bool = False) -> LogCheckpoint | None:
        """A new signed checkpoint of the head, stored; None if the tree did not grow (with
        `first_even_if_empty`, the empty tree's when there is no checkpoint at all)."""
        with self._sessions() as session, session.begin():
            head = tree.head(session, lock=True)  # no seal moves the head meanwhile
            last = session.scalar(select(LogCheckpoint.size).order_by(LogCheckpoint.size.desc()))
            if last is None:
                if head.size == 0 and not first_even_if_empty:
                    return None
            elif head.size <= last:
                return None
            note = sign_checkpoint(
                Checkpoint(self.identity.origin, head.size, head.root), self.identity.signer
            )
            checkpoint = LogCheckpoint(
                size=head.size, root=head.root, note=note, signed_at=self._clock()
            )
            session.add(checkpoint)
        return checkpoint

    def witness_now(self) -> int:
        """Submit the latest checkpoint to each witness that has not cosigned it; store the
        cosignatures. How many witnesses cosigned. Never raises for a witness's failure."""
        if not self._witnesses:
            return 0
        with self._sessions() as session:
            latest = session.scalars(
                select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1)
            ).one_or_none()
        if latest is None or latest.size == 0:
            return 0
        lines: list[str] = []
        cosigned = 0
        for number, witness in enumerate(self._witnesses):
            if self._sizes.get(number) == latest.size:
                continue
            got = self._submit(number, witness, latest.size, latest.note)
            if got is not None:
                lines.extend(got)
                cosigned += 1
        if lines:
            with self._sessions() as session, session.begin():
                row = session.get(LogCheckpoint, latest.size, with_for_update=True)
                if row is not None:
                    row.witnessed_note = add_cosignatures(row.witnessed_note or row.note, lines)
                    row.witnessed_at = self._clock()
        return cosigned

    def _submit(self, number: int, witness: Witness, size: int, note: str) -> list[str] | None:
        old = self._sizes.get(number, 0)
        for attempt in (1, 2):
            try:
                with self._sessions() as session:
                    proof = tree.consistency(session, old, size)
                lines = witness.add_checkpoint(old, proof, note)
            except WitnessConflict as exc:
                if exc.size > size:
                    # Another instance submitted a later checkpoint first, or the log lost
                    # records: the audit tells which, not a guess here.
                    log.info("access log: witness %d is at %d, past %d", number, exc.size, size)
                    self._sizes[number] = exc.size
                    return None
                if attempt == 1 and exc.size != old:
                    old = exc.size  # a restart forgot it, or another instance moved it on
                    continue
                log.warning("access log: witness %d stays at size %d", number, exc.size)
                return None
            except ValueError:  # no proof to our tree from a larger one
                log.error("access log: witness %d has cosigned a larger tree (%d) than this "
                          "log's %d: records were removed", number, old, size)  # fmt: skip
                return None
            except Exception as exc:  # refused, unreachable, or worse: the log goes on
                log.warning("access log: witness %d did not cosign size %d: %s",
                            number, size, exc)  # fmt: skip
                return None
            self._sizes[number] = size
            return self._verified(number, note, lines)
        return None

    def _verified(self, number: int, note: str, lines: list[str]) -> list[str] | None:
        """The cosignature lines that verify with a configured witness key (all of them when
        none is configured); None, reported, when none does."""
        if not self._witness_keys:
            return lines
        kept = [line for line in lines if any(_cosigns(note, line, k) for k in self._witness_keys)]
        if len(kept) < len(lines):
            log.error("access log: witness %d sent %d cosignature(s) of size %s that no key "
                      "of ONSHI_LOG_WITNESS_KEYS verifies: not stored", number,
                      len(lines) - len(kept), note.split("\n", 2)[1])  # fmt: skip
        return kept or None


def _cosigns(note: str, line: str, key: WitnessVerifier) -> bool:
    try:
        verify_cosignature(add_cosignatures(note, [line]), key)
    except NoteError:
        return False
    return True


# --- The audit (`verify-log`) ---


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A checkpoint cosigned by a witness, as held by `source` (a witness's URL, or the
    database's copy)."""

    size: int
    root: bytes
    by: tuple[str, ...]
    at: dt.datetime | None
    source: str


@dataclass(frozen=True, slots=True)
class Audit:
    """What `verify-log` found: the recomputed tree, the checkpoints it was held against
    and everything that does not hold (empty when intact)."""

    size: int
    root: bytes
    latest_signed: int | None
    witnessed: tuple[Witnessed, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def intact(self) -> bool:
        """True when nothing broke."""
        return not self.problems


def _cosigners(note: str, identity: Ed25519Verifier) -> tuple[tuple[str, ...], dt.datetime | None]:
    _, signatures = split_note(note)
    others: list[NoteSignature] = [
        s for s in signatures if (s.name, s.key_id) != (identity.name, identity.key_id)
    ]
    times = []
    for signature in others:
        try:
            times.append(cosignature_time(signature))
        except NoteError:
            continue
    at = dt.datetime.fromtimestamp(max(times), dt.UTC) if times else None
    return tuple(dict.fromkeys(s.name for s in others)), at


def _verified_cosigners(note: str, keys: Sequence[WitnessVerifier]) -> dict[str, dt.datetime]:
    found: dict[str, dt.datetime] = {}
    for key in keys:
        try:
            found[key.name] = verify_cosignature(note, key)
        except NoteError:
            continue
    return found


def audit(
    session: Session,
    verifier: Ed25519Verifier,
    origin: str,
    witnesses: Sequence[tuple[str, Witness]] = (),
    witness_keys: Sequence[WitnessVerifier] = (),
) -> Audit:
    """Recompute the tree from the records and hold it against the stored tree and head,
    the latest stored signed checkpoint, and each witness's latest checkpoint of `origin`
    (with no witness given: the latest witnessed note stored in the database, which is weaker,
    since whoever rewrites the database can rewrite that copy too). With `witness_keys`, a
    witnessed checkpoint counts only with a cosignature by one of them that verifies."""
    problems: list[str] = []
    held: list[tuple[Checkpoint, str]] = []
    witnessed: list[Witnessed] = []

    def opened(note: str, source: str) -> Checkpoint | None:
        try:
            return open_checkpoint(note, verifier, origin)
        except NoteError as exc:
            problems.append(f"the checkpoint from {source} is not the log's: {exc.reason}")
            return None

    latest = session.scalars(
        select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1)
    ).one_or_none()
    if latest is not None and (checkpoint := opened(latest.note, "the database")) is not None:
        held.append((checkpoint, "the latest signed checkpoint"))
    notes: list[tuple[str | None, str]] = []
    for url, witness in witnesses:
        try:
            notes.append((witness.latest(origin), url))
        except Exception as exc:  # reported, and the audit fails: it could not be checked
            problems.append(f"witness {url} could not be asked: {type(exc).__name__}")
    if not witnesses:
        stored = latest_witnessed(session)
        note = stored.witnessed_note if stored is not None else None
        notes.append((note, "the database (its stored copy)"))
    for note, source in notes:
        if note is None:
            continue
        checkpoint = opened(note, source)
        if checkpoint is None:
            continue
        by, at = _cosigners(note, verifier)
        if witness_keys:
            verified = _verified_cosigners(note, witness_keys)
            if not verified:
                problems.append(f"the checkpoint from {source} has no valid known cosignature")
                continue
            by, at = tuple(verified), max(verified.values())
        witnessed.append(Witnessed(checkpoint.size, checkpoint.root, by, at, source))
        held.append((checkpoint, f"the checkpoint witnessed by {', '.join(by) or '?'}"))
    recomputed = access_log.recompute(session, {c.size for c, _ in held})
    if recomputed.broken is not None:
        broken = recomputed.broken
        problems.append(f"the log is broken at position {broken.pos}: {broken.reason}")
    for checkpoint, what in held:
        if checkpoint.size > recomputed.size:
            problems.append(
                f"{what} has size {checkpoint.size}, the tree only {recomputed.size}: "
                "sealed records were removed"
            )
        elif recomputed.roots.get(checkpoint.size) != checkpoint.root:
            problems.append(
                f"the records' root at size {checkpoint.size} is not the root of {what}: "
                "sealed records were changed or replaced"
            )
    return Audit(
        recomputed.size,
        recomputed.root,
        None if latest is None else latest.size,
        tuple(witnessed),
        tuple(problems),
    )
