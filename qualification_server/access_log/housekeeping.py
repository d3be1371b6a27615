"""Background upkeep of each server instance: seal the access log and sign and witness its
checkpoints, drop spent challenges and old 目視確認用パスコード, share the newest CRL marks
with the other instances, and on PostgreSQL keep the time partitions of the access log and
the used challenges made ahead and the spent ones of the used challenges dropped
(docs/partitions.md)."""

# ruff: noqa: S608 -- the partition statements are built from this module's constants (table,
# column and partition names of `Partitioned`, made from dates); values are bound parameters.

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import delete, text
from sqlalchemy.exc import SQLAlchemyError

from qualification_server.access_log import log as access_log
from qualification_server.cards.passcodes import prune_visual_passcodes
from qualification_server.db import database_now
from qualification_server.models import AccessRecord, Base, UsedChallenge
from qualification_server.trust import rollback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from qualification_server.access_log.checkpoints import Checkpointer
    from qualification_server.trust.rollback import CrlHighWater

log = logging.getLogger(__name__)
# A used challenge must be kept while it could still be presented: until it expires.
USED_CHALLENGE_GRACE = dt.timedelta(minutes=1)
# How long partition upkeep waits for a lock before it gives up until its next round. A
# dropped partition's lock is the parent table's, which every check's insert queues behind
# while the drop waits: the wait is the longest stall a drop can cause.
DROP_LOCK_TIMEOUT = "100ms"
CREATE_LOCK_TIMEOUT = "2s"
# One upkeep at a time over all instances (pg_advisory_xact_lock's key).
_PARTITION_LOCK = 0x6F6E7368  # "onsh"


@dataclass(frozen=True, slots=True)
class Partitioned:
    """A table partitioned by ranges of one UTC time column, on PostgreSQL.

    Its partitions are `<table>_YYYY_MM` (a month) or `<table>_YYYY_MM_DD` (a day), from
    the range's start, each `FOR VALUES FROM (start) TO (next start)`, and
    `<table>_default` for a row whose range has none yet. `ahead` ranges after the current
    one always exist. With `spent_after`, a partition goes once its whole range is that far
    in the past; without, partitions are kept."""

    table: str
    key: str
    unit: Literal["month", "day"]
    ahead: int
    spent_after: dt.timedelta | None = None
    # each partition's own unique index of the sealed positions (`<partition>_chain_pos_key`)
    unique_positions: bool = False

    @property
    def default(self) -> str:
        """The default partition's name."""
        return f"{self.table}_default"

    def start_of(self, moment: dt.datetime) -> dt.datetime:
        """The start of the range that holds `moment`."""
        utc = moment.astimezone(dt.UTC)
        if self.unit == "month":
            return dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)
        return dt.datetime(utc.year, utc.month, utc.day, tzinfo=dt.UTC)

    def after(self, start: dt.datetime) -> dt.datetime:
        """The start of the range after the one starting at `start`."""
        if self.unit == "day":
            return start + dt.timedelta(days=1)
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)

    def name(self, start: dt.datetime) -> str:
        """The partition of the range starting at `start`."""
        form = "%Y_%m" if self.unit == "month" else "%Y_%m_%d"
        return f"{self.table}_{start.strftime(form)}"

    def start_from_name(self, name: str) -> dt.datetime | None:
        """The start of partition `name`'s range; None for a name not of this scheme."""
        digits = r"(\d{4})_(\d{2})" if self.unit == "month" else r"(\d{4})_(\d{2})_(\d{2})"
        found = re.fullmatch(re.escape(self.table) + "_" + digits, name)
        if found is None:
            return None
        year, month, *day = (int(part) for part in found.groups())
        return dt.datetime(year, month, day[0] if day else 1, tzinfo=dt.UTC)


ACCESS_RECORDS = Partitioned(
    AccessRecord.__tablename__, "recorded_at", "month", ahead=2, unique_positions=True
)
USED_CHALLENGES = Partitioned(
    UsedChallenge.__tablename__,
    "expires_at",
    "day",
    ahead=7,
    spent_after=USED_CHALLENGE_GRACE,
)
PARTITIONED = (ACCESS_RECORDS, USED_CHALLENGES)


def is_partitioned(session: Session, table: str) -> bool:
    """Whether `table` is a partitioned table (on PostgreSQL, after revision 0010)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    kind = session.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar_one_or_none()
    return kind == "p"


def partitions_of(session: Session, spec: Partitioned) -> dict[str, dt.datetime | None]:
    """The partitions of `spec`'s table: each one's name and range start (None: the
    default partition, or a partition not of the scheme)."""
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": spec.table},
    ).all()
    return {name: spec.start_from_name(name) for name in names}


def _database_time(session: Session) -> dt.datetime:
    moment: dt.datetime = session.execute(text("SELECT now()")).scalar_one()
    return moment.astimezone(dt.UTC)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_partition(session: Session, spec: Partitioned, start: dt.datetime) -> str:
    """Make the partition of the range starting at `start`, in the caller's transaction,
    moving into it the default partition's rows of that range (nothing is lost when a
    partition was missing). Made apart and attached, which locks the parent table only
    against other changes of its partitions, never against the checks' inserts."""
    name, table, default, key = spec.name(start), spec.table, spec.default, spec.key
    end = spec.after(start)
    session.execute(text(f"SET LOCAL lock_timeout = '{CREATE_LOCK_TIMEOUT}'"))
    if spec.unique_positions:
        # The sealer's lock first, as the sealer takes it: no record moves while it seals.
        session.execute(text("SELECT 1 FROM access_tree_head WHERE id = 1 FOR UPDATE"))
    session.execute(text(f"LOCK TABLE {_quoted(default)} IN ACCESS EXCLUSIVE MODE"))
    columns = ", ".join(_quoted(c.name) for c in Base.metadata.tables[table].columns)
    bounds = {"lo": start, "hi": end}
    range_check = f"{_quoted(key)} IS NOT NULL AND {_quoted(key)} >= :lo AND {_quoted(key)} < :hi"
    literal_range = (
        f"{_quoted(key)} IS NOT NULL AND {_quoted(key)} >= '{start.isoformat()}' "
        f"AND {_quoted(key)} < '{end.isoformat()}'"
    )
    session.execute(text(f"CREATE TABLE {_quoted(name)} (LIKE {_quoted(table)})"))
    # The range as a constraint lets the attach skip scanning the new partition.
    session.execute(
        text(
            f"ALTER TABLE {_quoted(name)} ADD CONSTRAINT {_quoted(name + '_range')} "
            f"CHECK ({literal_range})"
        )
    )
    if spec.unique_positions:
        session.execute(
            text(
                f"CREATE UNIQUE INDEX {_quoted(name + '_chain_pos_key')} ON {_quoted(name)} "
                "(chain_pos) WHERE chain_pos IS NOT NULL"
            )
        )
    moved = session.execute(
        text(
            f"WITH moved AS (DELETE FROM {_quoted(default)} WHERE {range_check} "
            f"RETURNING {columns}) INSERT INTO {_quoted(name)} ({columns}) "
            f"SELECT {columns} FROM moved"
        ),
        bounds,
    )
    session.execute(
        text(
            f"ALTER TABLE {_quoted(table)} ATTACH PARTITION {_quoted(name)} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    session.execute(text(f"ALTER TABLE {_quoted(name)} DROP CONSTRAINT {_quoted(name + '_range')}"))
    count = int(getattr(moved, "rowcount", 0) or 0)
    if count:
        log.warning(
            "partition %s made with %d rows moved from %s: its range had no partition",
            name,
            count,
            default,
        )
    else:
        log.info("partition %s made", name)
    return name


def ensure_partitions(session: Session, spec: Partitioned) -> list[str]:
    """Make the partitions that should exist and do not: the current range's and the
    `ahead` ones after it (by the database's clock), and any range of a row waiting in the
    default partition. Returns the names made; nothing on a table not partitioned."""
    if not is_partitioned(session, spec.table):
        return []
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK})
    existing = {start for start in partitions_of(session, spec).values() if start is not None}
    start = spec.start_of(_database_time(session))
    wanted = set()
    for _ in range(spec.ahead + 1):
        wanted.add(start)
        start = spec.after(start)
    waiting = session.scalars(
        text(
            f"SELECT DISTINCT date_trunc('{spec.unit}', {_quoted(spec.key)} AT TIME ZONE 'UTC') "
            f"FROM {_quoted(spec.default)}"
        )
    ).all()
    wanted |= {spec.start_of(moment.replace(tzinfo=dt.UTC)) for moment in waiting}
    return [create_partition(session, spec, s) for s in sorted(wanted - existing)]


def drop_spent_partitions(session: Session, spec: Partitioned = USED_CHALLENGES) -> list[str]:
    """Drop the partitions whose whole range ended `spec.spent_after` ago by the database's
    clock (for the used challenges: every challenge in them has expired, and expired is
    refused by that clock anyway). Returns the names dropped."""
    if spec.spent_after is None or not is_partitioned(session, spec.table):
        return []
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK})
    before = _database_time(session) - spec.spent_after
    spent = sorted(
        name
        for name, start in partitions_of(session, spec).items()
        if start is not None and spec.after(start) <= before
    )
    session.execute(text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
    for name in spent:
        session.execute(text(f"DROP TABLE {_quoted(name)}"))
        log.info("partition %s dropped: every row in it is spent", name)
    return spent


def prune_used_challenges(session: Session) -> int:
    """Forget used challenges that expired by the database's clock (they are refused as
    expired by it anyway, see `check_record`). Never by this instance's own clock: one that
    runs fast would forget challenges another instance could still be shown (a replay).

    On SQLite a DELETE; on PostgreSQL only the default partition's rows are deleted (the
    others go with their partition, `drop_spent_partitions`). Returns the rows deleted."""
    expired = database_now(
        session.get_bind().dialect.name, -int(USED_CHALLENGE_GRACE.total_seconds())
    )
    if is_partitioned(session, USED_CHALLENGES.table):
        result = session.execute(
            text(
                f"DELETE FROM {_quoted(USED_CHALLENGES.default)} "
                "WHERE expires_at < now() - make_interval(secs => :grace)"
            ),
            {"grace": USED_CHALLENGE_GRACE.total_seconds()},
        )
    else:
        result = session.execute(delete(UsedChallenge).where(UsedChallenge.expires_at < expired))
    return int(getattr(result, "rowcount", 0) or 0)


class Housekeeper:
    """Seals the access log every `interval_s`, prunes used challenges and syncs the CRL
    marks (`trust.rollback`), in a thread; with `checkpoints`, signs and witnesses the log's
    checkpoints at their own interval in a second thread (a slow witness never delays
    sealing)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        interval_s: float = 0.5,
        *,
        crl_marks: CrlHighWater | None = None,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        self._sessions = sessions
        self._crl_marks = crl_marks
        self._checkpoints = checkpoints
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._checkpoint_thread = threading.Thread(
            target=self._run_checkpoints, name="log-checkpoints", daemon=True
        )

    def start(self) -> None:
        """Start the background threads."""
        self._thread.start()
        if self._checkpoints is not None:
            self._checkpoint_thread.start()

    def stop(self) -> None:
        """Stop them, sealing (and checkpointing) what is left."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self._checkpoint_thread.is_alive():
            self._checkpoint_thread.join(timeout=30)
        try:
            self.seal_now()
            if self._checkpoints is not None:
                self._checkpoints.sign_now()
        except SQLAlchemyError as exc:
            log.warning("final sealing failed (the next instance will seal): %s", exc)

    def seal_now(self) -> int:
        """Seal one batch of the access log; how many records."""
        with self._sessions() as session, session.begin():
            return access_log.seal(session)

    def prune_now(self) -> int:
        """Used challenges and passcodes no longer needed; how many rows were deleted (the
        used challenges' spent partitions are dropped after, uncounted)."""
        with self._sessions() as session, session.begin():
            deleted = prune_used_challenges(session) + prune_visual_passcodes(session)
        with self._sessions() as session, session.begin():
            drop_spent_partitions(session)
        return deleted

    def partition_now(self) -> list[str]:
        """Make the partitions that should exist ahead (PostgreSQL); the names made."""
        made: list[str] = []
        for spec in PARTITIONED:
            with self._sessions() as session, session.begin():
                made += ensure_partitions(session, spec)
        return made

    def sync_crl_marks_now(self) -> bool:
        """Merge this instance's CRL marks with the database's; True if one of ours rose."""
        if self._crl_marks is None:
            return False
        with self._sessions() as session, session.begin():
            return rollback.sync(session, self._crl_marks)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(self._interval):
            rounds += 1
            self._guarded("sealing", self._seal_all)
            if rounds % 10 == 0:  # every few seconds: a rollback elsewhere shows here
                self._guarded("syncing the CRL marks", self.sync_crl_marks_now)
            if rounds % 120 == 1:  # at start, then about once a minute
                self._guarded("making partitions ahead", self.partition_now)
            if rounds % 120 == 0:
                self._guarded("pruning used challenges", self.prune_now)

    def _run_checkpoints(self) -> None:
        checkpoints = self._checkpoints
        if checkpoints is None:
            return
        while not self._stop.wait(checkpoints.interval_s):
            self._guarded("checkpointing the access log", checkpoints.run_once)

    def _seal_all(self) -> None:
        while self.seal_now() == access_log.SEAL_BATCH:
            pass

    @staticmethod
    def _guarded(what: str, task: Callable[[], object]) -> None:
        """One task's failure does not skip the others (each resumes with the database)."""
        try:
            task()
        except SQLAlchemyError as exc:
            log.warning("housekeeping: %s failed: %s", what, type(exc).__name__)
