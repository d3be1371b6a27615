"""A bulk import killed part-way leaves the registry as it was, and running it again
completes: `insurer-registry import` as a real process, SIGKILLed while it stages the file
and again while it writes the new rows into the registry's tables.

How the test knows the import is where it wants to kill it, from outside the process:

- staging: the process has read a quarter of the file (its file offset, from
  /proc/<pid>/fdinfo) and, on PostgreSQL, its COPY into the staging table has taken rows
  (`pg_stat_progress_copy`);
- merging: the whole file is read and the registry's tables are being written: on
  PostgreSQL the session runs `INSERT INTO persons|qualifications|linkage_events`; on SQLite
  uncommitted pages of them are spilling into the write-ahead log (it grows past 1 MiB).

Every row is matched against the issuer's resident register (a file the test writes, which
knows every member with the file's items): a killed import leaves no linkage event either.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.importer.service import import_csv
from insurer_registry.importer.staging import REJECTS, STAGING
from insurer_registry.members.audit import Actor
from insurer_registry.settings import Settings
from onshi_kernel.four_items import FileResidentRegister, register_document
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from tests.support.registry import (
    INSURER_A,
    RegisteredInsurer,
    four_items_of_body,
    member_body,
    my_number,
)

pytestmark = pytest.mark.db

CLI = Path(sys.executable).with_name("insurer-registry")
KNOWN = 500  # members registered before the big file
CHANGED = 100  # of them, the big file corrects this many
NEW = 60_000  # and adds this many
APPLICATION = "onshi-import-kill-test"  # names the import's PostgreSQL session
WAL_SPILL_BYTES = 1 << 20
DEADLINE_S = 120.0
COLUMNS = [
    "InsurerNumber", "MyNumber", "InsuredCardSymbol", "InsuredIdentificationNumber",
    "InsuredBranchNumber", "InsuredCardClassification", "PersonalFamilyClassification", "Name",
    "NameKana", "Sex1", "Birthdate", "QualificationDate", "InsuredPartialContributionRatio",
]  # fmt: skip


class Phase(StrEnum):
    STAGING = "staging"
    MERGING = "merging"


def member(n: int, kana: str = "ヤマダ　タロウ") -> list[str]:
    return [INSURER_A, my_number(n), "東京", f"{n:08d}", "00", "01", "1", "山田　太郎", kana,
            "1", "19800401", "20200401", "030"]  # fmt: skip


def write_register(path: Path, count: int) -> Path:
    """The issuer's register file, knowing members 0..count-1 with `member`'s items."""
    items = four_items_of_body(member_body(0))
    entries = {
        person_reference(my_number(n), DEVELOPMENT_PSEUDONYM_KEY): items for n in range(count)
    }
    path.write_text(json.dumps(register_document(entries), ensure_ascii=False), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class Snapshot:
    """What a reader of the registry sees: row counts and a digest of every qualification."""

    counts: dict[str, int]
    qualifications: str

    @classmethod
    def of(cls, engine: Engine) -> Snapshot:
        with engine.connect() as connection:
            counts = {
                table: int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
                for table in (
                    "persons",
                    "qualifications",
                    "imports",
                    "change_log",
                    "linkage_events",
                )
            }
            digest = hashlib.sha256()
            rows = connection.execute(
                text(
                    "SELECT id, version, name_kana, import_id, linkage FROM qualifications "
                    "ORDER BY id"
                )
            )
            for row in rows:
                digest.update(repr(tuple(row)).encode())
        return cls(counts, digest.hexdigest())


class Import:
    """`insurer-registry import FILE` running as its own process."""

    def __init__(
        self, database_url: str, register: Path, path: Path, log: Path, *options: str
    ) -> None:
        url = make_url(database_url)
        if url.get_backend_name() == "postgresql":
            url = url.update_query_dict({"application_name": APPLICATION})
        env = {
            **os.environ,
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "ONSHI_RESIDENT_REGISTER_FILES": json.dumps([str(register)]),
        }
        self.path = path
        self.size = path.stat().st_size
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(CLI), "import", *options, str(path)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started = time.monotonic()

    def offset(self) -> int | None:
        """How far the process has read the file (None once it closed it)."""
        folder = Path(f"/proc/{self.process.pid}")
        try:
            descriptors = list((folder / "fd").iterdir())
        except FileNotFoundError:
            return None
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) != str(self.path):
                    continue
                info = (folder / "fdinfo" / descriptor.name).read_text()
            except FileNotFoundError:
                continue
            return int(info.split("pos:", 1)[1].split()[0])
        return None

    def wait(self, timeout: float = DEADLINE_S) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def import_known(
    sessions: sessionmaker[Session], settings: Settings, register: Path, path: Path
) -> None:
    """Import `path` in this process, as the command would (its actor, the registry's key,
    the register file): the members known before the big file, without starting a process."""
    with path.open("rb") as source, transaction(sessions) as session:
        report = import_csv(
            session=session,
            source=source,
            pseudonym_key=settings.pseudonym_bytes,
            actor=Actor.operator("import"),
            register=FileResidentRegister([register]),
        )
    assert (report.committed, report.rejected) == (True, 0)


def run_to_end(database_url: str, register: Path, path: Path, log: Path) -> str:
    started = Import(database_url, register, path, log)
    assert started.wait() == 0, started.output()
    return started.output()


def staging_evidence(engine: Engine, job: Import) -> str | None:
    """Why we know the process is staging rows, or None if it is not (yet)."""
    offset = job.offset()
    if offset is None or not job.size // 4 <= offset < job.size:
        return None
    if engine.dialect.name != "postgresql":
        return f"read {offset} of {job.size} bytes"
    with engine.connect() as connection:
        copied = connection.execute(
            text(
                "SELECT p.tuples_processed FROM pg_stat_progress_copy p "
                "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = :app"
            ),
            {"app": APPLICATION},
        ).scalar()
    if not copied:
        return None
    return f"read {offset} of {job.size} bytes, COPY has staged {copied} rows"


def sqlite_wal(engine: Engine) -> Path:
    database = make_url(str(engine.url)).database
    assert database is not None
    return Path(f"{database}-wal")


def empty_the_wal(engine: Engine) -> None:
    """On SQLite, checkpoint and truncate the write-ahead log, so that what the import
    writes into it is all that is there (the log is reused, not shrunk, between writers)."""
    if engine.dialect.name == "postgresql":
        return
    connection = engine.raw_connection()  # outside a transaction: a checkpoint needs that
    try:
        busy, _, _ = connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    assert busy == 0 and sqlite_wal(engine).stat().st_size == 0


def merging_evidence(engine: Engine, job: Import) -> str | None:
    """Why we know the process is writing the registry's tables, or None."""
    if job.offset() != job.size:
        return None
    if engine.dialect.name != "postgresql":
        wal = sqlite_wal(engine)
        spilled = wal.stat().st_size if wal.exists() else 0
        if spilled < WAL_SPILL_BYTES:
            return None
        return f"file read; {spilled} bytes of uncommitted pages in the write-ahead log"
    with engine.connect() as connection:
        query = connection.execute(
            text(
                "SELECT query FROM pg_stat_activity WHERE application_name = :app "
                "AND state = 'active' AND (query LIKE 'INSERT INTO persons%' "
                "OR query LIKE 'INSERT INTO qualifications%' "
                "OR query LIKE 'INSERT INTO linkage_events%')"
            ),
            {"app": APPLICATION},
        ).scalar()
    return f"file read; the session runs {query.split('(')[0].strip()}" if query else None


EVIDENCE: dict[Phase, Callable[[Engine, Import], str | None]] = {
    Phase.STAGING: staging_evidence,
    Phase.MERGING: merging_evidence,
}


def kill_when(phase: Phase, engine: Engine, job: Import) -> str:
    """SIGKILL the import as soon as it is demonstrably in `phase`; return the evidence."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        evidence = EVIDENCE[phase](engine, job)
        if evidence is not None:
            job.process.send_signal(signal.SIGKILL)
            assert job.wait() == -signal.SIGKILL
            return f"{evidence}, killed after {time.monotonic() - job.started:.1f} s"
        assert job.process.poll() is None, f"the import ended before {phase}:\n{job.output()}"
        time.sleep(0.01)
    job.process.kill()
    raise AssertionError(f"the import did not reach {phase} within {DEADLINE_S} s")


def wait_for_orphaned_session(engine: Engine) -> float:
    """PostgreSQL finishes the statement a killed client left running, then rolls back;
    wait until the session is gone (and its locks with it). Returns the seconds waited."""
    started = time.monotonic()
    if engine.dialect.name != "postgresql":
        return 0.0
    while time.monotonic() - started < DEADLINE_S:
        with engine.connect() as connection:
            alive = connection.execute(
                text("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = :app"),
                {"app": APPLICATION},
            ).scalar_one()
        if not alive:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("the killed import's PostgreSQL session did not end")


def staging_tables_left(engine: Engine) -> set[str]:
    staging = {STAGING, REJECTS}
    names = set(inspect(engine).get_table_names()) & staging
    if engine.dialect.name == "postgresql":  # temporary tables live in pg_temp_N schemas
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT relname FROM pg_class WHERE relname IN (:a, :b)"),
                {"a": STAGING, "b": REJECTS},
            )
            names |= {row[0] for row in rows}
    return names


@pytest.mark.parametrize("phase", list(Phase))
def test_an_import_killed_part_way_leaves_nothing_and_completes_when_run_again(
    phase: Phase,
    database_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    insurer_a: RegisteredInsurer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register = write_register(tmp_path / "register.json", KNOWN + NEW)
    known = write_csv(tmp_path / "known.csv", [member(n) for n in range(KNOWN)])
    import_known(sessions, settings, register, known)
    before = Snapshot.of(engine)
    assert before.counts["qualifications"] == KNOWN

    rows = [member(n, "ヤマダ　タロー") for n in range(CHANGED)]
    rows += [member(n) for n in range(CHANGED, KNOWN)]
    rows += [member(n) for n in range(KNOWN, KNOWN + NEW)]
    big = write_csv(tmp_path / "members.csv", rows)
    empty_the_wal(engine)
    # The encoding given, the file is read once, by the staging itself: a kill part way
    # through the reading is a kill while rows are staged (detection would read it first).
    killed = Import(database_url, register, big, tmp_path / "killed.log", "--encoding", "utf-8")
    evidence = kill_when(phase, engine, killed)
    assert Snapshot.of(engine) == before, "a reader saw part of the killed import"
    orphan_s = wait_for_orphaned_session(engine)
    assert Snapshot.of(engine) == before, "the killed import left rows behind"
    assert not staging_tables_left(engine)

    started = time.monotonic()
    report = run_to_end(database_url, register, big, tmp_path / "again.log")
    rerun_s = time.monotonic() - started
    assert (
        f"imported: {KNOWN + NEW} rows (utf-8), {NEW} inserted, {CHANGED} updated, "
        f"{KNOWN - CHANGED} unchanged, 0 rejected, {CHANGED} held"
    ) in report
    after = Snapshot.of(engine)
    assert after.counts == {
        "persons": before.counts["persons"] + NEW,
        "qualifications": KNOWN + NEW,
        "imports": before.counts["imports"] + 1,
        "change_log": before.counts["change_log"] + CHANGED,
        # One 'linked' per new qualification, one 'rematched' per corrected reading.
        "linkage_events": before.counts["linkage_events"] + NEW + CHANGED,
    }
    with engine.connect() as connection:
        corrected = connection.execute(
            text("SELECT COUNT(*) FROM qualifications WHERE name_kana = 'ﾔﾏﾀﾞ ﾀﾛｰ'")
        ).scalar_one()
        # The corrected reading (タロー, not the issuer's タロウ) no longer matches: held.
        held = connection.execute(
            text("SELECT COUNT(*) FROM qualifications WHERE linkage = 'held'")
        ).scalar_one()
    assert (corrected, held) == (CHANGED, CHANGED)
    orphan = f"; its session ended {orphan_s:.1f} s later" if orphan_s else ""
    with capsys.disabled():  # the timings, for the record
        print(f"\n[{engine.dialect.name} {phase}] {evidence}{orphan}; re-run {rerun_s:.1f} s")
