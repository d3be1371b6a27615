"""time partitions on PostgreSQL: the access log by month of recorded_at, the used challenges
by day of expires_at; the used challenges keyed by (challenge_id, expires_at) on both

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:30:00

On PostgreSQL each table is made again as a partitioned table (a partitioned table cannot be
made from a plain one in place) with a partition for every range its rows fall in, the
current one and those ahead, and a default partition; the rows are copied in id order with
their ids and tree positions, the counts and sums of ids and positions are compared before
the old table goes, and the access log's id sequence is kept (it moves to the new table).
Used challenges that expired by the database's clock are not copied: they are refused as
expired anyway, as the pruning they were waiting for would have removed them.

SQLite keeps plain tables: only the used challenges' key changes (its expiry index goes).
Downgrade makes the plain tables again, rows and positions copied the same way.
"""

# ruff: noqa: S608 -- every statement here is built from this revision's constants (table,
# column and partition names; partition names from dates).

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (the housekeeper's `Partitioned` may move on): how far ahead, which ranges.
RECORDS_AHEAD_MONTHS = 2
CHALLENGES_AHEAD_DAYS = 7
GRACE_S = 60
_RECORD_COLUMNS = "id, recorded_at, clinic_code, person_ref, method, request, answer, chain_pos"
_CHALLENGE_COLUMNS = "challenge_id, expires_at"


class CopyMismatch(RuntimeError):
    """The copied table does not hold what the old one did; nothing was changed."""


def _month(moment: dt.datetime) -> dt.datetime:
    utc = moment.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)


def _next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def _day(moment: dt.datetime) -> dt.datetime:
    utc = moment.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, utc.day, tzinfo=dt.UTC)


def _partition(table: str, name: str, start: dt.datetime, end: dt.datetime) -> None:
    op.execute(
        f"CREATE TABLE {name} PARTITION OF {table} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def _positions_index(partition: str) -> None:
    op.execute(
        f"CREATE UNIQUE INDEX {partition}_chain_pos_key ON {partition} (chain_pos) "
        "WHERE chain_pos IS NOT NULL"
    )


def _fingerprint(connection: sa.Connection, table: str) -> tuple[int, ...]:
    row = connection.execute(
        sa.text(
            f"SELECT count(*), coalesce(sum(id), 0), count(chain_pos), "
            f"coalesce(sum(chain_pos), 0), coalesce(max(chain_pos), 0) FROM {table}"
        )
    ).one()
    return tuple(int(value) for value in row)


def _span(
    connection: sa.Connection, table: str, key: str, since: str = ""
) -> tuple[dt.datetime, dt.datetime]:
    now, low, high = connection.execute(
        sa.text(f"SELECT now(), min({key}), max({key}) FROM {table} {since}")
    ).one()
    return min(low or now, now), max(high or now, now)


def _partition_records(connection: sa.Connection) -> None:
    sequence = connection.execute(
        sa.text("SELECT pg_get_serial_sequence('access_records', 'id')")
    ).scalar_one()
    before = _fingerprint(connection, "access_records")
    low, high = _span(connection, "access_records", "recorded_at")
    op.execute("LOCK TABLE access_records IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE access_records RENAME TO access_records_0009")
    op.execute(
        "ALTER TABLE access_records_0009 RENAME CONSTRAINT access_records_pkey "
        "TO access_records_0009_pkey"
    )
    for index in (
        "ix_access_records_clinic_code",
        "ix_access_records_person_ref",
        "ix_access_records_unsealed",
        "uq_access_records_chain_pos",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(
        f"""
        CREATE TABLE access_records (
            id bigint NOT NULL DEFAULT nextval('{sequence}'::regclass),
            recorded_at timestamptz NOT NULL,
            clinic_code varchar(10),
            person_ref varchar(64),
            method varchar(16) NOT NULL,
            request text NOT NULL,
            answer text NOT NULL,
            chain_pos bigint,
            CONSTRAINT access_records_pkey PRIMARY KEY (id, recorded_at)
        ) PARTITION BY RANGE (recorded_at)
        """
    )
    op.execute("CREATE INDEX ix_access_records_clinic_code ON access_records (clinic_code)")
    op.execute("CREATE INDEX ix_access_records_person_ref ON access_records (person_ref)")
    op.execute(
        "CREATE INDEX ix_access_records_unsealed ON access_records (id) WHERE chain_pos IS NULL"
    )
    start = _month(low)
    last = _month(high)
    for _ in range(RECORDS_AHEAD_MONTHS):
        last = _next_month(last)
    while start <= last:
        name = f"access_records_{start.strftime('%Y_%m')}"
        _partition("access_records", name, start, _next_month(start))
        _positions_index(name)
        start = _next_month(start)
    op.execute("CREATE TABLE access_records_default PARTITION OF access_records DEFAULT")
    _positions_index("access_records_default")
    op.execute(
        f"INSERT INTO access_records ({_RECORD_COLUMNS}) "
        f"SELECT {_RECORD_COLUMNS} FROM access_records_0009 ORDER BY id"
    )
    after = _fingerprint(connection, "access_records")
    if after != before:
        raise CopyMismatch(f"access_records: {before} before, {after} copied")
    op.execute("DROP TABLE access_records_0009")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY access_records.id")


def _partition_challenges(connection: sa.Connection) -> None:
    alive = f"WHERE expires_at >= now() - interval '{GRACE_S} seconds'"
    kept = connection.execute(sa.text(f"SELECT count(*) FROM used_challenges {alive}")).scalar()
    low, high = _span(connection, "used_challenges", "expires_at", alive)
    op.execute("LOCK TABLE used_challenges IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE used_challenges RENAME TO used_challenges_0009")
    op.execute(
        "ALTER TABLE used_challenges_0009 RENAME CONSTRAINT used_challenges_pkey "
        "TO used_challenges_0009_pkey"
    )
    op.execute("DROP INDEX ix_used_challenges_expires_at")
    op.execute(
        """
        CREATE TABLE used_challenges (
            challenge_id varchar(32) NOT NULL,
            expires_at timestamptz NOT NULL,
            CONSTRAINT used_challenges_pkey PRIMARY KEY (challenge_id, expires_at)
        ) PARTITION BY RANGE (expires_at)
        """
    )
    start, last = _day(low), _day(high) + dt.timedelta(days=CHALLENGES_AHEAD_DAYS)
    while start <= last:
        end = start + dt.timedelta(days=1)
        _partition("used_challenges", f"used_challenges_{start.strftime('%Y_%m_%d')}", start, end)
        start = end
    op.execute("CREATE TABLE used_challenges_default PARTITION OF used_challenges DEFAULT")
    op.execute(
        f"INSERT INTO used_challenges ({_CHALLENGE_COLUMNS}) "
        f"SELECT {_CHALLENGE_COLUMNS} FROM used_challenges_0009 {alive}"
    )
    copied = connection.execute(sa.text("SELECT count(*) FROM used_challenges")).scalar()
    if copied != kept:
        raise CopyMismatch(f"used_challenges: {kept} alive before, {copied} copied")
    op.execute("DROP TABLE used_challenges_0009")


def _sqlite_challenges(primary_key: str, index: bool) -> None:
    op.execute("ALTER TABLE used_challenges RENAME TO used_challenges_0009")
    op.execute("DROP INDEX IF EXISTS ix_used_challenges_expires_at")
    op.execute(
        "CREATE TABLE used_challenges (challenge_id VARCHAR(32) NOT NULL, "
        f"expires_at DATETIME NOT NULL, PRIMARY KEY ({primary_key}))"
    )
    op.execute(
        f"INSERT INTO used_challenges ({_CHALLENGE_COLUMNS}) "
        f"SELECT {_CHALLENGE_COLUMNS} FROM used_challenges_0009"
    )
    op.execute("DROP TABLE used_challenges_0009")
    if index:
        op.execute("CREATE INDEX ix_used_challenges_expires_at ON used_challenges (expires_at)")


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        _sqlite_challenges("challenge_id, expires_at", index=False)
        return
    _partition_records(connection)
    _partition_challenges(connection)


def _unpartition_records(connection: sa.Connection) -> None:
    sequence = connection.execute(
        sa.text("SELECT pg_get_serial_sequence('access_records', 'id')")
    ).scalar_one()
    before = _fingerprint(connection, "access_records")
    op.execute("LOCK TABLE access_records IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE access_records RENAME TO access_records_0010")
    op.execute(
        "ALTER TABLE access_records_0010 RENAME CONSTRAINT access_records_pkey "
        "TO access_records_0010_pkey"
    )
    for index in (
        "ix_access_records_clinic_code",
        "ix_access_records_person_ref",
        "ix_access_records_unsealed",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(
        f"""
        CREATE TABLE access_records (
            id bigint NOT NULL DEFAULT nextval('{sequence}'::regclass),
            recorded_at timestamptz NOT NULL,
            clinic_code varchar(10),
            person_ref varchar(64),
            method varchar(16) NOT NULL,
            request text NOT NULL,
            answer text NOT NULL,
            chain_pos bigint,
            CONSTRAINT access_records_pkey PRIMARY KEY (id)
        )
        """
    )
    op.execute(
        f"INSERT INTO access_records ({_RECORD_COLUMNS}) "
        f"SELECT {_RECORD_COLUMNS} FROM access_records_0010 ORDER BY id"
    )
    after = _fingerprint(connection, "access_records")
    if after != before:
        raise CopyMismatch(f"access_records: {before} before, {after} copied")
    op.execute("DROP TABLE access_records_0010")  # its partitions go with it
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY access_records.id")
    op.execute("CREATE INDEX ix_access_records_clinic_code ON access_records (clinic_code)")
    op.execute("CREATE INDEX ix_access_records_person_ref ON access_records (person_ref)")
    op.execute(
        "CREATE INDEX ix_access_records_unsealed ON access_records (id) WHERE chain_pos IS NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_access_records_chain_pos ON access_records (chain_pos) "
        "WHERE chain_pos IS NOT NULL"
    )


def _unpartition_challenges() -> None:
    op.execute("ALTER TABLE used_challenges RENAME TO used_challenges_0010")
    op.execute(
        "ALTER TABLE used_challenges_0010 RENAME CONSTRAINT used_challenges_pkey "
        "TO used_challenges_0010_pkey"
    )
    op.execute(
        "CREATE TABLE used_challenges (challenge_id varchar(32) NOT NULL, "
        "expires_at timestamptz NOT NULL, CONSTRAINT used_challenges_pkey "
        "PRIMARY KEY (challenge_id))"
    )
    op.execute(
        f"INSERT INTO used_challenges ({_CHALLENGE_COLUMNS}) "
        f"SELECT {_CHALLENGE_COLUMNS} FROM used_challenges_0010"
    )
    op.execute("DROP TABLE used_challenges_0010")
    op.execute("CREATE INDEX ix_used_challenges_expires_at ON used_challenges (expires_at)")


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        _sqlite_challenges("challenge_id", index=True)
        return
    _unpartition_records(connection)
    _unpartition_challenges()
