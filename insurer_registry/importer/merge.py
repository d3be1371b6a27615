"""The set-based half of an import: cross-row checks on the staging table, then the merge
into the registry, each as one statement over the whole file.

Checks write (line, reason) into the rejects table:

- the same qualification twice in the file (insured number + qualification date);
- one insured number given for different persons in the file;
- an insured number that belongs to another person in the registry;
- a period that overlaps another of the same person at the same insurer, in the file or in
  the registry (a registry row restated by the file is judged by its new version).

A row whose four items do not match the issuer's is not a rejection: it is inserted held.

Periods are half-open: the loss date is the first day without the qualification.
"""

# ruff: noqa: S608 -- every statement here is built from constants (table and column names
# defined in this package); values always travel as bound parameters.

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Integer, String, bindparam, column, text

from insurer_registry.importer.staging import HELD, REJECTS, STAGING, staging
from insurer_registry.linkage.state import LinkageEventKind, LinkageState
from insurer_registry.members.domain import FLAT_FIELDS
from insurer_registry.models import UtcDateTime

log = logging.getLogger(__name__)

FOREVER = date(9999, 12, 31)
PAGE_ROWS = 1000

_KEY = "{a}.insurer_id = {b}.insurer_id AND {a}.symbol = {b}.symbol AND {a}.number = {b}.number"
_KEY += " AND {a}.branch = {b}.branch"
_DATED_KEY = _KEY + " AND {a}.qualification_date = {b}.qualification_date"
_OVERLAP = (
    "{a}.qualification_date < COALESCE({b}.disqualification_date, :forever) "
    "AND {b}.qualification_date < COALESCE({a}.disqualification_date, :forever)"
)


def _key(a: str, b: str, *, dated: bool = True) -> str:
    return (_DATED_KEY if dated else _KEY).format(a=a, b=b)


def _overlap(a: str, b: str) -> str:
    return _OVERLAP.format(a=a, b=b)


def lock_registry(connection: Connection) -> None:
    """Keep other writers out until the import commits (PostgreSQL; SQLite's write lock is
    already held for the whole transaction)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE persons, qualifications IN SHARE ROW EXCLUSIVE MODE"))


CHECKS = (
    # The same qualification twice in the file.
    f"""INSERT INTO {REJECTS} (line, reason)
    SELECT s.line, 'the same qualification as line ' || d.first_line
    FROM {STAGING} s JOIN (
        SELECT insurer_id, symbol, number, branch, qualification_date, MIN(line) AS first_line
        FROM {STAGING}
        GROUP BY insurer_id, symbol, number, branch, qualification_date
        HAVING COUNT(*) > 1
    ) d ON {_key("s", "d")}
    WHERE s.line <> d.first_line""",
    # One insured number, several persons, in the file: the first line's person keeps it.
    f"""INSERT INTO {REJECTS} (line, reason)
    SELECT s.line, 'the insured number is given for another person on line ' || f.line
    FROM {STAGING} s JOIN (
        SELECT insurer_id, symbol, number, branch, MIN(line) AS first_line
        FROM {STAGING}
        GROUP BY insurer_id, symbol, number, branch
        HAVING MIN(person_ref) <> MAX(person_ref)
    ) d ON {_key("s", "d", dated=False)}
    JOIN {STAGING} f ON f.line = d.first_line
    WHERE s.person_ref <> f.person_ref""",
    # The insured number belongs to another person in the registry.
    f"""INSERT INTO {REJECTS} (line, reason)
    SELECT s.line,
        'the insured number belongs to another person (qualification ' || q.id || ')'
    FROM {STAGING} s
    JOIN qualifications q ON {_key("q", "s", dated=False)}
    JOIN persons p ON p.id = q.person_id
    WHERE p.person_ref <> s.person_ref""",
    # Overlap with a registry qualification the file does not restate.
    f"""INSERT INTO {REJECTS} (line, reason)
    SELECT s.line, 'the period overlaps qualification ' || q.id
    FROM {STAGING} s
    JOIN persons p ON p.person_ref = s.person_ref
    JOIN qualifications q ON q.person_id = p.id AND q.insurer_id = s.insurer_id
    WHERE NOT ({_key("q", "s")}) AND {_overlap("q", "s")}
    AND NOT EXISTS (SELECT 1 FROM {STAGING} r WHERE {_key("r", "q")})""",
    # Overlap within the file (pairs of one person's rows at one insurer), among the rows
    # not already rejected (a duplicate line does not overlap its original).
    f"""INSERT INTO {REJECTS} (line, reason)
    SELECT b.line, 'the period overlaps line ' || a.line
    FROM (
        SELECT insurer_id, person_ref FROM {STAGING}
        GROUP BY insurer_id, person_ref HAVING COUNT(*) > 1
    ) g
    JOIN {STAGING} a ON a.insurer_id = g.insurer_id AND a.person_ref = g.person_ref
    JOIN {STAGING} b ON b.insurer_id = g.insurer_id AND b.person_ref = g.person_ref
        AND a.line < b.line
    WHERE NOT ({_key("a", "b")}) AND {_overlap("a", "b")}
    AND a.line NOT IN (SELECT line FROM {REJECTS})
    AND b.line NOT IN (SELECT line FROM {REJECTS})""",
)


def run_checks(connection: Connection) -> None:
    """Run every cross-row check, filling the rejects table."""
    for statement in CHECKS:
        query = text(statement)
        if ":forever" in statement:
            query = query.bindparams(bindparam("forever", FOREVER, type_=Date))
        connection.execute(query)


def rejected_lines(connection: Connection) -> Iterator[tuple[int, str]]:
    """The lines the checks rejected, each once with all its reasons, in line order."""
    rows = connection.execute(text(f"SELECT line, reason FROM {REJECTS} ORDER BY line, reason"))
    current: int | None = None
    reasons: list[str] = []
    for line, reason in rows:
        if line != current and current is not None:
            yield current, "; ".join(reasons)
            reasons = []
        current = line
        if reason not in reasons:
            reasons.append(reason)
    if current is not None:
        yield current, "; ".join(reasons)


def drop_rejected(connection: Connection) -> None:
    """Remove rejected lines from the staging table (a partial import goes on without them)."""
    connection.execute(text(f"DELETE FROM {STAGING} WHERE line IN (SELECT line FROM {REJECTS})"))


def _same_values(connection: Connection) -> str:
    null_safe = "IS" if connection.dialect.name == "sqlite" else "IS NOT DISTINCT FROM"
    return " AND ".join(f"s.{name} {null_safe} q.{name}" for name in FLAT_FIELDS)


def count_unchanged(connection: Connection) -> int:
    """Rows the registry already holds exactly (by insured number and date)."""
    return int(
        connection.execute(
            text(
                f"SELECT COUNT(*) FROM {STAGING} s JOIN qualifications q ON {_key('q', 's')} "
                f"WHERE {_same_values(connection)}"
            )
        ).scalar_one()
    )


# Typed result columns: SQLite hands back text for a date unless told the type.
_TYPED_COLUMNS = (
    column("line", Integer),
    column("id", Integer),
    column("insurer_id", Integer),
    *(column(name, staging.c[name].type) for name in FLAT_FIELDS),
)


def changed_rows(connection: Connection) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
    """(line, qualification id, insurer id, staged values) of rows that restate a registry
    qualification with other values, in line order, fetched a page at a time."""
    columns = ", ".join(f"s.{name}" for name in FLAT_FIELDS)
    after = 0
    while True:
        page = connection.execute(
            text(
                f"SELECT s.line, q.id, s.insurer_id, {columns} FROM {STAGING} s "
                f"JOIN qualifications q ON {_key('q', 's')} "
                f"WHERE NOT ({_same_values(connection)}) AND s.line > :after "
                f"ORDER BY s.line LIMIT {PAGE_ROWS}"
            )
            .bindparams(after=after)
            .columns(*_TYPED_COLUMNS)
        ).all()
        for row in page:
            values = dict(zip(FLAT_FIELDS, row[3:], strict=True))
            yield row[0], row[1], row[2], values
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][0]


def insert_new(
    connection: Connection,
    *,
    import_id: int,
    now: datetime,
    actor: str,
    request_id: str | None,
) -> int:
    """Insert the persons and qualifications the registry does not hold yet, each with the
    linkage its staged match gave it, and one `linked` linkage event per new qualification;
    returns how many qualifications."""
    stamp = bindparam("now", now, type_=UtcDateTime)
    connection.execute(
        text(
            # In key order: the unique index then grows at its right edge, not at random.
            f"INSERT INTO persons (person_ref, created_at) "
            f"SELECT n.person_ref, :now FROM (SELECT DISTINCT s.person_ref FROM {STAGING} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_ref = s.person_ref)) n "
            f"ORDER BY n.person_ref"
        ).bindparams(stamp)
    )
    log.debug("import: persons inserted")
    columns = ", ".join(FLAT_FIELDS)
    staged = ", ".join(f"s.{name}" for name in FLAT_FIELDS)
    insert_qualifications = (
        f"INSERT INTO qualifications (insurer_id, person_id, {columns}, version, import_id, "
        f"created_at, updated_at, linkage, linkage_outcomes, linkage_checked_at, "
        f"my_number_last4) "
        f"SELECT s.insurer_id, p.id, {staged}, 1, :import_id, :now, :now, "
        f"s.linkage, s.linkage_outcomes, :now, s.my_number_last4 "
        f"FROM {STAGING} s JOIN persons p ON p.person_ref = s.person_ref "
        f"WHERE NOT EXISTS (SELECT 1 FROM qualifications q WHERE {_key('q', 's')})"
    )
    events = (
        "INSERT INTO linkage_events (at, qualification_id, person_id, insurer_id, event, state, "
        "outcomes, my_number_last4, actor, request_id, import_id) "
        "SELECT :now, q.id, q.person_id, q.insurer_id, :event, q.linkage, q.linkage_outcomes, "
        "q.my_number_last4, :actor, :request_id, :import_id "
    )
    event_parameters = (
        stamp,
        bindparam("request_id", request_id, type_=String),
        bindparam("import_id", import_id, type_=Integer),
        bindparam("event", LinkageEventKind.LINKED.value, type_=String),
        bindparam("actor", actor, type_=String),
    )
    held = (
        f"INSERT INTO {HELD} (qualification_id, insurer_id, symbol, number, branch, "
        f"qualification_date, outcomes) SELECT q.id, q.insurer_id, q.symbol, q.number, "
        f"q.branch, q.qualification_date, q.linkage_outcomes "
    )
    held_state = bindparam("held", LinkageState.HELD.value, type_=String)
    if connection.dialect.name == "postgresql":
        # One statement: the events and the held list are made from the rows the insert
        # returns, so the new qualifications are never looked for again in the registry.
        inserted = connection.execute(
            text(
                f"WITH q AS ({insert_qualifications} RETURNING id, person_id, insurer_id, "
                f"symbol, number, branch, qualification_date, linkage, linkage_outcomes, "
                f"my_number_last4), "
                f"e AS ({events} FROM q), "
                f"h AS ({held} FROM q WHERE q.linkage = :held) "
                f"SELECT COUNT(*) FROM q"
            ).bindparams(*event_parameters, held_state)
        ).scalar_one()
        log.debug("import: qualifications and their linkage events inserted")
        return int(inserted)
    result = connection.execute(text(insert_qualifications).bindparams(stamp, event_parameters[2]))
    inserted = int(getattr(result, "rowcount", 0))
    log.debug("import: qualifications inserted")
    if inserted:
        # The qualifications of this import are exactly the ones just inserted: a changed
        # row keeps the import that first brought it.
        connection.execute(
            text(
                f"{events} FROM {STAGING} s JOIN qualifications q ON {_key('q', 's')} "
                f"WHERE q.import_id = :import_id ORDER BY q.id"
            ).bindparams(*event_parameters)
        )
        log.debug("import: linkage events inserted")
        connection.execute(
            text(
                f"{held} FROM {STAGING} s JOIN qualifications q ON {_key('q', 's')} "
                f"WHERE s.linkage = :held AND q.import_id = :import_id AND q.linkage = :held"
            ).bindparams(event_parameters[2], held_state)
        )
    return inserted


def held_new(
    connection: Connection, *, limit: int
) -> tuple[int, list[tuple[int, int, str | None]]]:
    """How many of the qualifications this import inserted are held (`insert_new` listed
    them), and the first `limit` by line: (line, qualification id, stored outcomes)."""
    total = int(connection.execute(text(f"SELECT COUNT(*) FROM {HELD}")).scalar_one())
    if not total:
        return 0, []
    rows = connection.execute(
        text(
            f"SELECT s.line, h.qualification_id, h.outcomes FROM {HELD} h "
            f"JOIN {STAGING} s ON {_key('s', 'h')} ORDER BY s.line LIMIT {limit:d}"
        ).columns(column("line", Integer), column("id", Integer), column("outcomes", String))
    ).all()
    return total, [(line, id_, outcomes) for line, id_, outcomes in rows]
