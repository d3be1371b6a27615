"""The connector's folders and the moves between them: what makes a request survive a crash.

    DIR/req/   the receipt computer drops requests here
    DIR/work/  a request the connector has claimed (atomic rename) and not yet answered
    DIR/res/   answers, each appearing whole (written elsewhere, fsync'd, renamed in)
    DIR/face/  results of card checks at the reader, written the same way
    DIR/rejected/  requests the connector refused itself (C…), kept for whoever fixes the sender
    DIR/batches/   what the connector keeps of a 一括照会 between its two steps (the entries it
               refused itself), one file per reception number
    DIR/tmp/   where files are written before they are renamed into place

A request leaves `work/` only after its answer is durable in `res/`; a connector that stops at
any point finds it in `work/` on start. One connector serves a directory at a time (a lock).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clinic_client.connector.names import NAME_MAX_BYTES, is_request_file

LOCK_FILE = ".connector.lock"
# How a claim is opened: a symbolic link is not followed (its target could be any file the
# connector may read) and a FIFO does not wait for a writer (it would hold the loop forever).
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
STALE_TEMP_S = 3600.0
# A batch's layout is needed until its result has been fetched; the server keeps a result a
# week (ONSHI_BATCH_RETENTION_HOURS), so a layout is kept a day longer.
BATCH_LAYOUT_KEEP_S = 8 * 24 * 3600.0
TEMPORARY_SUFFIXES = (
    ".tmp",
    ".part",
    "~",
)  # a temporary file this old was left by a writer that died


class NotARegularFile(Exception):
    """A claim that is not a regular file: something was put in place of a request file
    after the connector listed it (a symbolic link, a FIFO, a device, a folder)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"not a regular file: {kind}")
        self.kind = kind


class ConnectorBusy(Exception):
    """Another connector already serves this directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"another connector serves {directory}")
        self.directory = directory


@dataclass(frozen=True, slots=True)
class Spool:
    root: Path

    @classmethod
    def open(cls, root: Path) -> Spool:
        """The folders under `root`, created if missing (`root` itself must exist)."""
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a directory")
        spool = cls(root)
        folders = (spool.req, spool.res, spool.work, spool.face, spool.rejected, spool.batches)
        for folder in (*folders, spool.tmp):
            folder.mkdir(exist_ok=True)
        return spool

    @property
    def req(self) -> Path:
        return self.root / "req"

    @property
    def res(self) -> Path:
        return self.root / "res"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def face(self) -> Path:
        return self.root / "face"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def batches(self) -> Path:
        return self.root / "batches"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory for one connector; `ConnectorBusy` if another holds it.

        An OS lock, released by the kernel however the holder ends: no stale lock files.
        """
        with (self.root / LOCK_FILE).open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConnectorBusy(self.root) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def claimed(self) -> list[Path]:
        """Requests in `work/`, oldest first: claimed, not yet answered. Whatever a claim
        turned out to be (a link, a FIFO swapped in before it was claimed) is listed, so that
        it is answered and kept rather than left there."""
        return [p for _, p in _stamped(p for p in self.work.iterdir() if not _hidden(p))]

    def waiting(self, *, settle_s: float) -> list[Path]:
        """Request files in `req/` left untouched for `settle_s` (a writer that writes in
        place has finished), oldest first."""
        settled_before = time.time_ns() - int(settle_s * 1e9)
        candidates = (p for p in self.req.iterdir() if _is_request(p))
        return [p for mtime, p in _stamped(candidates) if mtime <= settled_before]

    def ignored(self) -> set[str]:
        """Names in `req/` that are not requests and not a writer's temporary file (those are
        expected): `notes.txt`, a folder, a symbolic link. They are left alone."""
        return {
            p.name
            for p in self.req.iterdir()
            if not _is_request(p)
            and not p.name.startswith(".")
            and not p.name.lower().endswith(TEMPORARY_SUFFIXES)
        }

    def claim(self, request: Path) -> Path | None:
        """Move `request` into `work/`; None if it is gone or a request of the same name is
        still being answered (it waits in `req/` rather than replace that one)."""
        claim = self.work / request.name
        if os.path.lexists(claim):
            return None
        try:
            request.rename(claim)
        except FileNotFoundError:
            return None
        return claim

    def is_answered(self, claim: Path, answer_name: str) -> bool:
        """True when `res/` holds an answer written after the claimed request was: the
        connector stopped between writing the answer and removing the claim."""
        answer = self.res / answer_name
        try:
            return answer.lstat().st_mtime_ns >= claim.lstat().st_mtime_ns
        except FileNotFoundError:
            return False

    def read_claim(self, claim: Path, *, max_bytes: int) -> bytes:
        """The claimed request's bytes, at most `max_bytes`, read from one descriptor that was
        opened without following a link or waiting on a FIFO and is a regular file.

        Raises `NotARegularFile` for anything else, whatever the listing saw: the writer may
        have swapped the file between the listing and now. `PermissionError` for a regular
        file the connector may not read; other `OSError`s as they come.
        """
        with os.fdopen(_open_regular(claim), "rb") as handle:
            return handle.read(max_bytes)

    def write_answer(self, name: str, data: bytes) -> Path:
        return self._publish(self.res, name, data)

    def write_face(self, name: str, data: bytes) -> Path:
        return self._publish(self.face, name, data)

    def keep_batch(self, reception_number: str, data: bytes) -> Path:
        """Keep what the second step of a batch needs, durably, under its number."""
        return self._publish(self.batches, f"{reception_number}.json", data)

    def kept_batch(self, reception_number: str) -> bytes | None:
        """What `keep_batch` kept under the number; None if nothing is."""
        try:
            return (self.batches / f"{reception_number}.json").read_bytes()
        except FileNotFoundError:
            return None

    def keep_rejected(self, claim: Path) -> Path | None:
        """Keep the claimed request in `rejected/` (the connector refused it), before its
        answer is published: a stop at any point leaves it in `work/`, `rejected/` or both,
        never nowhere. A hard link, so no bytes are copied; a copy where the file system has
        no links. Kept again after a restart, it is not doubled. None if the claim was
        taken out of `work/` meanwhile, if it is not a regular file (a link, a FIFO), or if
        the connector may neither link nor read it (another user's file, mode 000): `finish`
        moves those in instead, as they are."""
        try:
            if not stat.S_ISREG(os.lstat(claim).st_mode):
                return None
        except FileNotFoundError:
            return None
        target = self._rejected_name(claim)
        if os.path.lexists(target):
            return target  # kept before a restart
        try:
            os.link(claim, target, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError:  # no hard links here (some network shares), or not ours to link
            temporary = self.tmp / f"{uuid.uuid4().hex}.tmp"
            try:
                _copy_regular(claim, temporary)
                os.replace(temporary, target)
            except (PermissionError, NotARegularFile):
                return None
            finally:
                temporary.unlink(missing_ok=True)
        _fsync_directory(self.rejected)
        return target

    def finish(self, claim: Path) -> None:
        """The request is answered: forget it. One that is not a regular file, or that the
        connector may not read, could not be kept in `rejected/` by `keep_rejected`: it is
        moved there now (a rename: a link is moved, not followed), never deleted unseen."""
        if _kept_by_moving(claim):
            target = self._rejected_name(claim)
            if not os.path.lexists(target):  # (where links need no read access, it is kept)
                claim.rename(target)
                _fsync_directory(self.rejected)
        claim.unlink(missing_ok=True)
        _fsync_directory(self.work)

    def _rejected_name(self, claim: Path) -> Path:
        """Where `claim` goes in `rejected/`: its own name, or `<n>-<name>` when another
        file holds that; an entry that already is `claim` (linked before a restart) is kept."""
        target = self.rejected / claim.name
        number = 0
        while os.path.lexists(target) and not _same_entry(target, claim):
            number += 1
            target = self.rejected / _fitted(f"{number}-{claim.name}")
        return target

    def remove_stale_temporaries(self) -> None:
        cutoff = time.time_ns() - int(STALE_TEMP_S * 1e9)
        for mtime, path in _stamped(p for p in self.tmp.iterdir() if p.is_file()):
            if mtime < cutoff:
                path.unlink(missing_ok=True)

    def remove_old_batches(self, keep_s: float = BATCH_LAYOUT_KEEP_S) -> int:
        """Forget batch layouts older than `keep_s` (their results are gone from the server
        too); how many."""
        cutoff = time.time_ns() - int(keep_s * 1e9)
        removed = 0
        for mtime, path in _stamped(p for p in self.batches.iterdir() if p.is_file()):
            if mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _publish(self, folder: Path, name: str, data: bytes) -> Path:
        """Write `data` as `folder/name` so that a reader sees no file or the whole file,
        and the file survives a power cut once this returns."""
        temporary = self.tmp / f"{uuid.uuid4().hex}.tmp"
        target = folder / name
        # os.open rather than mkstemp: the receipt computer must be able to read the answer,
        # so the file gets the usual mode under the umask, not 0600.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(folder)
        return target


def _fitted(name: str) -> str:
    """`name` cut at the end to fit a file name (in bytes, as the file system counts)."""
    while len(os.fsencode(name)) > NAME_MAX_BYTES:
        name = name[:-1]
    return name


def _kept_by_moving(path: Path) -> bool:
    """True when `path` can be neither linked nor copied into `rejected/`: it is not a
    regular file, or opening it for reading is refused. (A file that is gone is not: there
    is nothing left to keep.)"""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return True
        os.close(os.open(path, READ_FLAGS))
    except PermissionError:
        return True
    except FileNotFoundError:
        pass
    return False


def _open_regular(path: Path) -> int:
    """A descriptor of `path` open for reading, checked to be a regular file; else
    `NotARegularFile`, naming what it is. The check is on the descriptor, so what was
    checked is what is read, whatever is put at `path` meanwhile."""
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError:
        # A link refused by O_NOFOLLOW (ELOOP), a socket that cannot be opened (ENXIO):
        # say what it is. A regular file keeps its error (permission denied, I/O).
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(_kind(mode)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(_kind(mode))
        os.set_blocking(fd, True)  # a regular file: O_NONBLOCK has done its work
    except BaseException:
        os.close(fd)
        raise
    return fd


def _copy_regular(source: Path, target: Path) -> None:
    """Copy `source` to a new file `target`, read through a regular file's descriptor."""
    with os.fdopen(_open_regular(source), "rb") as reading, target.open("xb") as writing:
        shutil.copyfileobj(reading, writing)


def _same_entry(a: Path, b: Path) -> bool:
    """True when `a` and `b` are one directory entry's file (links not followed)."""
    try:
        first, second = os.lstat(a), os.lstat(b)
    except FileNotFoundError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, for the log."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and not _hidden(path)


def _is_request(path: Path) -> bool:
    # A symbolic link could point the connector at any file it may read: not a request.
    return is_request_file(path.name) and _is_file(path)


def _stamped(paths: Iterator[Path]) -> list[tuple[int, Path]]:
    """(modification time, path), oldest first; files gone meanwhile are left out."""
    stamped: list[tuple[int, str, Path]] = []
    for path in paths:
        try:
            stamped.append((path.lstat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue
    return [(mtime, path) for mtime, _, path in sorted(stamped)]


def _fsync_directory(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
