"""The witness's own storage: for each log it witnesses, the last checkpoint it cosigned (size,
root, the cosigned note, when), and the alarms it raised. One JSON file, replaced atomically
and fsync'd before the witness answers, so that after a crash or a restart the file holds
either the old record or the new one and the witness never cosigns against a state it lost.

This file is the witness's whole memory: a witness whose state file is lost or rolled back
can be made to cosign a fork of a log it already cosigned. Keep it on the witness's own disk,
back it up as a database, and never copy it into the server's.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from onshi_kernel.files import atomic_write
from onshi_kernel.transparency.merkle import HASH_SIZE

AlarmKind = Literal["fork", "smaller", "bad-proof"]
"""fork: a log-signed checkpoint of the cosigned size with another root (two signed roots of
one size are proof the log forked); smaller: a log-signed checkpoint of a smaller tree
submitted against the last cosigned one (a rollback, or a replay of an old checkpoint);
bad-proof: a consistency proof that does not verify (a fork, a bug, or anyone posting a
log-signed checkpoint with a wrong proof, since requests are not authenticated: resolved when
the same checkpoint is later cosigned)."""

MAX_ALARMS = 1000  # the newest are kept: only the log's own key can make one, but it may loop


class StateError(Exception):
    """A state file that cannot be read or is not a witness's state."""


class StateLocked(StateError):
    """Another witness process holds this state file."""


@dataclass(frozen=True, slots=True)
class LogState:
    """The last checkpoint the witness cosigned for one log."""

    origin: str
    size: int
    root: bytes
    note: str  # the log's signature(s) and this witness's cosignature
    cosigned_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Alarm:
    """A checkpoint the witness refused because it does not extend the last one it cosigned.

    `note` is the log-signed checkpoint as submitted: the evidence to show."""

    at: dt.datetime
    origin: str
    kind: AlarmKind
    reason: str
    cosigned_size: int
    old_size: int
    new_size: int
    new_root: bytes
    note: str
    resolved_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The alarm as JSON-ready data (roots in base64, times in ISO 8601 UTC)."""
        return {
            "at": self.at.isoformat(),
            "origin": self.origin,
            "kind": self.kind,
            "reason": self.reason,
            "cosigned_size": self.cosigned_size,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "new_root": base64.b64encode(self.new_root).decode("ascii"),
            "note": self.note,
            "resolved_at": None if self.resolved_at is None else self.resolved_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class WitnessState:
    """Everything the witness remembers."""

    logs: Mapping[str, LogState]
    alarms: tuple[Alarm, ...] = ()


EMPTY = WitnessState(logs={})


# --- The file format (an edge: validated on reading) ---


class _LogModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    size: int
    root: str
    note: str
    cosigned_at: dt.datetime


class _AlarmModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: dt.datetime
    origin: str
    kind: AlarmKind
    reason: str
    cosigned_size: int
    old_size: int
    new_size: int
    new_root: str
    note: str
    resolved_at: dt.datetime | None = None


class _StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    logs: dict[str, _LogModel]
    alarms: list[_AlarmModel]


def _root(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if len(raw) != HASH_SIZE:
        raise ValueError(f"a root of {len(raw)} bytes")
    return raw


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a time without a time zone")
    return moment.astimezone(dt.UTC)


def decode_state(data: bytes) -> WitnessState:
    """The state a state file holds; `StateError` when it is not one."""
    try:
        model = _StateModel.model_validate_json(data)
        logs = {
            origin: LogState(origin, log.size, _root(log.root), log.note, _utc(log.cosigned_at))
            for origin, log in model.logs.items()
        }
        alarms = tuple(
            Alarm(
                at=_utc(a.at),
                origin=a.origin,
                kind=a.kind,
                reason=a.reason,
                cosigned_size=a.cosigned_size,
                old_size=a.old_size,
                new_size=a.new_size,
                new_root=_root(a.new_root),
                note=a.note,
                resolved_at=None if a.resolved_at is None else _utc(a.resolved_at),
            )
            for a in model.alarms
        )
    except (ValidationError, ValueError) as exc:
        raise StateError(f"not a witness state file: {exc}") from None
    if any(log.size < 0 for log in logs.values()):
        raise StateError("not a witness state file: a negative tree size")
    return WitnessState(logs, alarms)


def encode_state(state: WitnessState) -> bytes:
    """The state file's bytes (JSON, origins sorted, so two equal states are equal files)."""
    model = _StateModel(
        version=1,
        logs={
            origin: _LogModel(
                size=log.size,
                root=base64.b64encode(log.root).decode("ascii"),
                note=log.note,
                cosigned_at=log.cosigned_at,
            )
            for origin, log in sorted(state.logs.items())
        },
        alarms=[_AlarmModel.model_validate(a.as_dict()) for a in state.alarms],
    )
    return model.model_dump_json(indent=2).encode("utf-8") + b"\n"


def load_state(path: Path) -> WitnessState:
    """The state in `path`, or the empty state when there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return EMPTY
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    return decode_state(data)


class StateStore:
    """The state file of one running witness: read once, then changed only through
    `transaction`, one writer at a time, each change on disk before it returns.

    `lock_file` also takes an exclusive lock on `<state>.lock` for the life of the store, so
    that two witness processes never write the same state (the second one's checks would run
    against a state the first one changes under it)."""

    def __init__(self, path: Path, *, lock_file: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        if lock_file:
            self._lock_fd = self._take_file_lock(path.with_name(path.name + ".lock"))
        try:
            self._state = load_state(path)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _take_file_lock(lock_path: Path) -> int:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateLocked(f"another witness holds {lock_path}") from None
        return fd

    def close(self) -> None:
        """Release the file lock (the state itself is always on disk already)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def state(self) -> WitnessState:
        """The current state (a frozen snapshot)."""
        return self._state

    @property
    def lock(self) -> threading.Lock:
        """Held around every check-then-write, so no two requests interleave."""
        return self._lock

    def write(self, state: WitnessState) -> None:
        """Make `state` the current state, on disk first. The caller holds `lock`."""
        if not self._lock.locked():
            raise RuntimeError("the state is written only under its lock")
        atomic_write(self.path, encode_state(state))
        self._state = state


def with_cosigned(state: WitnessState, log: LogState) -> WitnessState:
    """`state` with `log` as its log's latest, and any bad-proof alarm for that very
    checkpoint marked resolved (the log has now proved it consistent)."""
    alarms = tuple(
        replace(a, resolved_at=log.cosigned_at)
        if a.origin == log.origin
        and a.kind == "bad-proof"
        and a.resolved_at is None
        and (a.new_size, a.new_root) == (log.size, log.root)
        else a
        for a in state.alarms
    )
    return WitnessState({**state.logs, log.origin: log}, alarms)


def with_alarm(state: WitnessState, alarm: Alarm) -> WitnessState | None:
    """`state` with `alarm` added, or None when an unresolved alarm of the same kind for the
    same checkpoint is already there (a replayed request raises no second alarm)."""
    for known in state.alarms:
        if (
            known.resolved_at is None
            and (known.origin, known.kind, known.new_size, known.new_root)
            == (alarm.origin, alarm.kind, alarm.new_size, alarm.new_root)
            and known.cosigned_size == alarm.cosigned_size
        ):
            return None
    return WitnessState(state.logs, (*state.alarms, alarm)[-MAX_ALARMS:])
