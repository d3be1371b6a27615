"""The staging table of an import, and the two ways rows get into it.

The staging table lives for one transaction (a temporary table): every valid row of the
file with its line number, shaped like `qualifications` but keyed by `person_ref`, with the
last 4 digits of its My Number and the linkage its batch's match against the issuer gave it.
On PostgreSQL rows are streamed in with COPY; elsewhere with batched INSERTs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, text

from insurer_registry.importer.rows import StagedRow
from insurer_registry.members.domain import FLAT_FIELDS
from insurer_registry.models import Qualification

STAGING = "registry_import_staging"
REJECTS = "registry_import_rejects"
HELD = "registry_import_held"
SQLITE_BATCH_ROWS = 2000
# Memory for each sort and hash of the set checks and the merge, for this transaction only
# (PostgreSQL's default of 4 MB sends a 100,000-row file's to disk).
WORK_MEM = "64MB"

_metadata = MetaData()
staging = Table(
    STAGING,
    _metadata,
    Column("line", Integer, nullable=False),
    Column("insurer_id", Integer, nullable=False),
    Column("person_ref", String(64), nullable=False),
    Column("my_number_last4", String(4), nullable=False),
    *(Column(name, Qualification.__table__.c[name].type) for name in FLAT_FIELDS),
    Column("linkage", String(10), nullable=False),
    Column("linkage_outcomes", String(120), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
rejects = Table(
    REJECTS,
    _metadata,
    Column("line", Integer, nullable=False),
    Column("reason", String(500), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# The new qualifications the match held, as the merge inserted them: the report's held lines
# are found by joining these few with the staged rows, never by searching the registry.
held = Table(
    HELD,
    _metadata,
    Column("qualification_id", Integer, nullable=False),
    *(
        Column(name, Qualification.__table__.c[name].type)
        for name in ("insurer_id", "symbol", "number", "branch", "qualification_date")
    ),
    Column("outcomes", String(120)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
STAGING_COLUMNS: tuple[str, ...] = (
    "line",
    "insurer_id",
    "person_ref",
    "my_number_last4",
    *FLAT_FIELDS,
    "linkage",
    "linkage_outcomes",
)

# The columns the set checks and the merge join, group or filter on.
PLANNED_COLUMNS = (
    "line",
    "insurer_id",
    "person_ref",
    "symbol",
    "number",
    "branch",
    "qualification_date",
    "disqualification_date",
    "linkage",
)


def create_tables(connection: Connection) -> None:
    """Create the staging, rejects and held tables for this transaction (PostgreSQL drops them
    at commit or rollback; elsewhere `drop_tables` does). On PostgreSQL the transaction's
    `work_mem` becomes `WORK_MEM`."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    drop_tables(connection)
    staging.create(connection)
    rejects.create(connection)
    held.create(connection)


def drop_tables(connection: Connection) -> None:
    """Drop the tables where the database does not do it at the end of the transaction."""
    if connection.dialect.name == "postgresql":
        return
    held.drop(connection, checkfirst=True)
    rejects.drop(connection, checkfirst=True)
    staging.drop(connection, checkfirst=True)


def index_tables(connection: Connection) -> None:
    """Prepare the loaded staging table for the set checks and the merge: statistics, and
    on SQLite (which joins by nested loops) indexes. PostgreSQL joins it by hashing, where
    indexes would only cost time to build."""
    if connection.dialect.name == "postgresql":
        # Statistics only of the columns the checks and the merge join, group and filter on:
        # names and addresses would cost most of the sampling and serve no plan.
        connection.execute(text(f"ANALYZE {STAGING} ({', '.join(PLANNED_COLUMNS)})"))
        return
    connection.execute(
        text(
            f"CREATE INDEX {STAGING}_key ON {STAGING} "
            "(insurer_id, symbol, number, branch, qualification_date)"
        )
    )
    connection.execute(text(f"CREATE INDEX {STAGING}_person ON {STAGING} (person_ref)"))
    connection.execute(text(f"ANALYZE {STAGING}"))


class StagingWriter:
    """Writes staged rows into the staging table, in batches (or one COPY stream)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._batch: list[StagedRow] = []
        self._copy: Any = None
        self._copy_context: Any = None
        if connection.dialect.name == "postgresql":
            driver = connection.connection.driver_connection
            cursor: Any = driver.cursor()  # type: ignore[union-attr]
            self._copy_context = cursor.copy(
                f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN"
            )
            self._copy = self._copy_context.__enter__()

    def write(self, row: StagedRow) -> None:
        """Add one row: a parsed row followed by its linkage state and outcomes."""
        if self._copy is not None:
            self._copy.write_row(row)
            return
        self._batch.append(row)
        if len(self._batch) >= SQLITE_BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._connection.execute(
                insert(staging),
                [dict(zip(STAGING_COLUMNS, row, strict=True)) for row in self._batch],
            )
            self._batch.clear()

    def close(self) -> None:
        """Finish writing: flush the last batch, or end the COPY stream."""
        if self._copy_context is not None:
            context, self._copy_context, self._copy = self._copy_context, None, None
            context.__exit__(None, None, None)
        self._flush()
