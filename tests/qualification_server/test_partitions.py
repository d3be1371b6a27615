"""Issue 19, item 2: on PostgreSQL the access log is partitioned by month and the used
challenges by day (docs/partitions.md); SQLite keeps plain tables and the same code works on
both. Partitions exist ahead; a row whose partition is missing waits in the default one and
moves into its partition when it is made; spent used-challenge partitions are dropped by the
database's clock; per-person reads of the log stay index-backed; the positions stay unique
and `verify-log` finds a position held twice; revision 0010 converts the tables keeping
every record, tree position and live used challenge."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onshi_kernel.db import alembic_config
from qualification_server.access_log import log as access_log
from qualification_server.access_log import tree
from qualification_server.access_log.housekeeping import (
    ACCESS_RECORDS,
    USED_CHALLENGES,
    Housekeeper,
    drop_spent_partitions,
    ensure_partitions,
    is_partitioned,
    partitions_of,
    prune_used_challenges,
)
from qualification_server.cards.attempts import spend_challenge
from qualification_server.cards.challenges import Challenge, Purpose
from qualification_server.cli import app
from qualification_server.db import MIGRATIONS, make_engine, make_session_factory, migrate
from qualification_server.models import AccessRecord, Base, UsedChallenge
from tests.qualification_server.test_access_tree import add_records, entry, seal_all
from tests.support.world import World

pytestmark = pytest.mark.db

_RECORDS = Base.metadata.tables[AccessRecord.__tablename__]


def postgresql(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return session.get_bind().dialect.name == "postgresql"


def database_now(sessions: sessionmaker[Session]) -> dt.datetime:
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            moment: dt.datetime = session.execute(text("SELECT now()")).scalar_one()
            return moment.astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def challenge(expires_at: dt.datetime, number: int = 1) -> Challenge:
    """A used challenge's fields as an opened one has them (its token is not needed)."""
    return Challenge(
        purpose=Purpose.CHECK,
        client="1310000017",
        issued_at=expires_at - dt.timedelta(minutes=5),
        expires_at=expires_at,
        challenge_id=f"{number:032x}",
        token=b"",
    )


def spend(sessions: sessionmaker[Session], used: Challenge) -> bool:
    with sessions() as session, session.begin():
        return spend_challenge(session, used)


def add_used(sessions: sessionmaker[Session], *rows: tuple[str, dt.datetime]) -> None:
    """Used challenges written as they are (even expired ones: an old day's rows)."""
    with sessions() as session, session.begin():
        for challenge_id, expires_at in rows:
            session.add(UsedChallenge(challenge_id=challenge_id, expires_at=expires_at))


def in_partition(sessions: sessionmaker[Session], table: str, where: str) -> list[str]:
    """Which partition holds each row of `table` matching `where` (tableoid)."""
    with sessions() as session:
        return list(
            session.scalars(text(f"SELECT tableoid::regclass::text FROM {table} WHERE {where}"))
        )


# --- the partitions and their upkeep ----------------------------------------------------------


def test_partitions_exist_for_this_range_and_those_ahead(world: World) -> None:
    sessions = world.deps.sessions
    with sessions() as session:
        partitioned = {spec.table: is_partitioned(session, spec.table) for spec in (
            ACCESS_RECORDS, USED_CHALLENGES)}  # fmt: skip
    if not postgresql(sessions):  # the embedded default keeps plain tables
        assert partitioned == {"access_records": False, "used_challenges": False}
        assert Housekeeper(sessions).partition_now() == []
        return
    assert partitioned == {"access_records": True, "used_challenges": True}
    now = database_now(sessions)
    for spec in (ACCESS_RECORDS, USED_CHALLENGES):
        start, wanted = spec.start_of(now), {spec.default}
        for _ in range(spec.ahead + 1):
            wanted.add(spec.name(start))
            start = spec.after(start)
        with sessions() as session:
            assert wanted <= set(partitions_of(session, spec))
    assert Housekeeper(sessions).partition_now() == []  # the migration made them already
    with sessions() as session:  # each partition of the log its own unique positions
        names = set(partitions_of(session, ACCESS_RECORDS))
        indexed = set(
            session.scalars(
                text(
                    "SELECT tablename FROM pg_indexes WHERE indexname = tablename || "
                    "'_chain_pos_key' AND indexdef LIKE 'CREATE UNIQUE INDEX%'"
                )
            )
        )
    assert names <= indexed


def test_the_housekeeper_makes_the_next_range_once_the_clock_reaches_it(world: World) -> None:
    sessions = world.deps.sessions
    if not postgresql(sessions):
        with sessions() as session, session.begin():
            assert ensure_partitions(session, USED_CHALLENGES) == []
        return
    now = database_now(sessions)
    farthest = USED_CHALLENGES.start_of(now) + dt.timedelta(days=USED_CHALLENGES.ahead)
    with sessions() as session, session.begin():
        session.execute(text(f"DROP TABLE {USED_CHALLENGES.name(farthest)}"))
    assert Housekeeper(sessions).partition_now() == [USED_CHALLENGES.name(farthest)]
    assert Housekeeper(sessions).partition_now() == []


def test_a_record_whose_partition_is_missing_waits_in_the_default_and_moves_sealed(
    world: World,
) -> None:
    """Nothing is lost when the housekeepers fell behind: the record is taken, sealed and
    checked as any other, and moves into its month when that is made, position and all."""
    sessions = world.deps.sessions
    later = database_now(sessions) + dt.timedelta(days=200)  # beyond the months made ahead
    add_records(world, 3)
    with sessions() as session, session.begin():
        access_log.append(session, replace(entry(99), now=later))
    add_records(world, 2, start=3)
    assert seal_all(world) == 6
    with sessions() as session:
        before = [(r.id, r.chain_pos) for r in session.scalars(select(AccessRecord))]
        far = select(AccessRecord.id).where(AccessRecord.person_ref == "ref-0099")
        far_id = session.scalars(far).one()
    if postgresql(sessions):
        assert in_partition(sessions, "access_records", f"id = {far_id}") == [
            "access_records_default"
        ]
    made = Housekeeper(sessions).partition_now()
    if postgresql(sessions):
        assert made == [ACCESS_RECORDS.name(ACCESS_RECORDS.start_of(later))]
        assert in_partition(sessions, "access_records", f"id = {far_id}") == made
        assert in_partition(sessions, "access_records_default", "true") == []
    else:
        assert made == []
    with sessions() as session:
        after = [(r.id, r.chain_pos) for r in session.scalars(select(AccessRecord))]
        assert sorted(after) == sorted(before)
        assert access_log.verify_chain(session) is None
        assert tree.head(session).size == 6


def test_a_used_challenge_whose_partition_is_missing_still_refuses_its_replay(
    world: World,
) -> None:
    sessions = world.deps.sessions
    later = challenge(database_now(sessions) + dt.timedelta(days=30), number=7)
    assert spend(sessions, later)  # its day is not made yet: the default partition takes it
    assert not spend(sessions, later)
    Housekeeper(sessions).partition_now()
    assert not spend(sessions, later)  # moved into its day, still used
    if postgresql(sessions):
        where = f"challenge_id = '{later.challenge_id}'"
        assert in_partition(sessions, "used_challenges", where) == [
            USED_CHALLENGES.name(USED_CHALLENGES.start_of(later.expires_at))
        ]


def test_spent_days_of_used_challenges_are_dropped_by_the_databases_clock(world: World) -> None:
    sessions = world.deps.sessions
    now = database_now(sessions)
    old_day = USED_CHALLENGES.start_of(now) - dt.timedelta(days=3)
    add_used(
        sessions,
        ("three-days-ago", old_day + dt.timedelta(hours=12)),
        ("a-minute-ago", now - dt.timedelta(minutes=3)),
        ("alive", now + dt.timedelta(minutes=5)),
    )
    keeper = Housekeeper(sessions)
    if not postgresql(sessions):  # a DELETE of what expired, as before
        assert keeper.prune_now() == 2
        with sessions() as session:
            assert set(session.scalars(select(UsedChallenge.challenge_id))) == {"alive"}
        return
    # Three days ago had no partition: its row waited in the default partition, which the
    # pruning empties of what expired (rows and partitions, never by an instance's clock).
    assert in_partition(sessions, "used_challenges", "challenge_id = 'three-days-ago'") == [
        USED_CHALLENGES.default
    ]
    world.clock.advance(3 * 86400)  # an instance's clock far ahead changes nothing
    assert keeper.prune_now() == 1
    world.clock.advance(-3 * 86400)
    with sessions() as session:
        # today's partition is kept whole: an expired row waits for its day to end
        assert set(session.scalars(select(UsedChallenge.challenge_id))) == {
            "a-minute-ago", "alive",
        }  # fmt: skip
    # A day made for old rows goes as soon as the pruning sees it spent.
    add_used(sessions, ("three-days-ago", old_day + dt.timedelta(hours=12)))
    assert keeper.partition_now() == [USED_CHALLENGES.name(old_day)]
    with sessions() as session, session.begin():
        assert drop_spent_partitions(session) == [USED_CHALLENGES.name(old_day)]
    with sessions() as session:
        assert USED_CHALLENGES.name(old_day) not in partitions_of(session, USED_CHALLENGES)
        assert USED_CHALLENGES.name(USED_CHALLENGES.start_of(now)) in partitions_of(
            session, USED_CHALLENGES
        )
    alive = challenge(now + dt.timedelta(minutes=5), number=8)
    assert spend(sessions, alive) and not spend(sessions, alive)


def test_the_pruning_deletes_from_the_default_partition_only(world: World) -> None:
    sessions = world.deps.sessions
    now = database_now(sessions)
    add_used(sessions, ("expired-today", now - dt.timedelta(minutes=5)))
    with sessions() as session, session.begin():
        removed = prune_used_challenges(session)
    expected = 0 if postgresql(sessions) else 1
    assert removed == expected


# --- per-person reads, index-backed -----------------------------------------------------------


def _fill(sessions: sessionmaker[Session], months: int, per_month: int) -> None:
    """`per_month` records in each of `months` months from this one, 2,000 people."""
    now = database_now(sessions)
    with sessions() as session, session.begin():
        rows = []
        for month in range(months):
            moment = now + dt.timedelta(days=31 * month)
            for n in range(per_month):
                rows.append(
                    {
                        "recorded_at": moment + dt.timedelta(seconds=n),
                        "clinic_code": "1310000017",
                        "person_ref": f"ref-{n % 2000:04d}",
                        "method": "pin",
                        "request": "{}",
                        "answer": "{}",
                    }
                )
        session.execute(insert(_RECORDS), rows)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE access_records"))
        else:
            session.execute(text("ANALYZE"))


def _statements_of(engine: Engine, run: Callable[[], object]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def capture(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """Each table read of a PostgreSQL plan: (node, relation, index); a bitmap heap scan
    is named with its bitmap index scan's index."""
    children = plan.get("Plans", [])
    if "Relation Name" in plan:
        index = plan.get("Index Name")
        if index is None and children:
            index = children[0].get("Index Name")
        yield plan["Node Type"], plan["Relation Name"], index
        return
    for child in children:
        yield from _scans(child)


def _empty(engine: Engine, table: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT NOT EXISTS (SELECT FROM {table})")).scalar_one()


def _plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """How the database reads each table for `statement`: PostgreSQL's scan nodes as
    `<node> on <relation> using <index>`, SQLite's query plan lines."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            plan = connection.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, parameters
            ).scalar_one()
            if isinstance(plan, str):
                plan = json.loads(plan)
            return [
                f"{node} on {relation} using {index}"
                for node, relation, index in _scans(plan[0]["Plan"])
            ]
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [row[-1] for row in rows]


def test_a_persons_history_is_read_through_the_person_index_of_every_partition(
    world: World,
) -> None:
    sessions = world.deps.sessions
    _fill(sessions, months=3, per_month=6000)
    with sessions() as session:
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        seen = _statements_of(engine, lambda: access_log.records_about(session, "ref-0042"))
        assert len(access_log.records_about(session, "ref-0042")) == 9
    (statement, parameters), = [(s, p) for s, p in seen if "person_ref =" in s]  # fmt: skip
    plan = _plan(engine, statement, parameters)
    if engine.dialect.name == "postgresql":
        now = database_now(sessions)
        months = {
            ACCESS_RECORDS.name(ACCESS_RECORDS.start_of(now + dt.timedelta(days=31 * m)))
            for m in range(3)
        }
        read = {line.split(" on ")[1].split(" using ")[0]: line for line in plan}
        assert months <= set(read), plan  # each month with records is read …
        for partition, line in read.items():  # … through its person index
            if _empty(engine, partition):  # the default, empty: nothing to read
                continue
            assert line.startswith(("Index Scan", "Bitmap Heap Scan")), plan
            assert line.endswith("_person_ref_idx"), plan
    else:
        assert any("USING INDEX ix_access_records_person_ref" in line for line in plan), plan
        assert not any(line.startswith("SCAN access_records") for line in plan), plan


def test_the_walk_of_verify_log_reads_positions_through_each_partitions_index(
    world: World,
) -> None:
    sessions = world.deps.sessions
    _fill(sessions, months=2, per_month=3000)
    seal_all(world)
    with sessions() as session:
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        seen = _statements_of(engine, lambda: access_log.verify_chain(session))
    walks = [(s, p) for s, p in seen if "chain_pos >=" in s and "FROM access_records" in s]
    assert walks
    plan = _plan(engine, *walks[0])
    if engine.dialect.name == "postgresql":
        for line in plan:
            partition = line.split(" on ")[1].split(" using ")[0]
            if not _empty(engine, partition):
                assert line.startswith("Index") and line.endswith("_chain_pos_key"), plan
    else:
        assert any("uq_access_records_chain_pos" in line for line in plan), plan


# --- the positions' uniqueness ----------------------------------------------------------------


def test_a_position_held_twice_is_refused_in_a_month_and_found_by_verify_log_across(
    world: World,
) -> None:
    """One partition refuses a second record at a position; across partitions the database
    cannot (its unique keys must hold the partition key), and verify-log names the break."""
    sessions = world.deps.sessions
    add_records(world, 4)
    seal_all(world)
    with sessions() as session:
        first = session.scalars(select(AccessRecord).where(AccessRecord.chain_pos == 2)).one()
        moment = first.recorded_at
    twin = entry(50).columns() | {"chain_pos": 2, "recorded_at": moment}
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.execute(insert(_RECORDS), twin)
    if not postgresql(sessions):
        return
    elsewhere = twin | {"recorded_at": moment + dt.timedelta(days=40)}
    with sessions() as session, session.begin():  # an insider's row in the next month
        session.execute(insert(_RECORDS), elsewhere)
    with sessions() as session:
        broken = access_log.verify_chain(session)
    assert broken is not None and broken.pos <= 3, broken


# --- revision 0010 -----------------------------------------------------------------------------


@pytest.fixture
def engine_at_0009(database_factory: Callable[[str], str]) -> Iterator[Engine]:
    """A database at revision 0009 holding 10 sealed and 3 unsealed records (this month and
    two earlier ones) and used challenges, alive and expired."""
    engine = make_engine(database_factory("partitions"))
    migrate(engine, "0009")
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    with sessions() as session, session.begin():
        for number in range(13):
            moment = now - dt.timedelta(days=31 * (2 - number // 5))
            access_log.append(session, replace(entry(number), now=moment))
            if number == 9:
                session.flush()
                access_log.seal(session)
        session.execute(
            insert(UsedChallenge.__table__),
            [
                {"challenge_id": f"{1:032x}", "expires_at": now + dt.timedelta(minutes=5)},
                {"challenge_id": f"{2:032x}", "expires_at": now - dt.timedelta(days=2)},
            ],
        )
    yield engine
    engine.dispose()


def _state(engine: Engine) -> tuple[list[tuple[int, int | None, str]], int, bytes]:
    sessions = make_session_factory(engine)
    with sessions() as session:
        rows = [
            (r.id, r.chain_pos, r.person_ref or "")
            for r in session.scalars(select(AccessRecord).order_by(AccessRecord.id))
        ]
        head = tree.head(session)
        return rows, head.size, head.root


def test_revision_0010_keeps_every_record_its_position_and_the_live_challenges(
    engine_at_0009: Engine,
) -> None:
    engine = engine_at_0009
    before = _state(engine)
    assert before[1] == 10
    migrate(engine)
    assert _state(engine) == before  # none lost, none moved, the unsealed still unsealed
    sessions = make_session_factory(engine)
    pg = engine.dialect.name == "postgresql"
    with sessions() as session:
        assert is_partitioned(session, "access_records") is pg
        assert is_partitioned(session, "used_challenges") is pg
        assert access_log.verify_chain(session) is None
        kept = set(session.scalars(select(UsedChallenge.challenge_id)))
    # the live one is kept (a replay is refused); the expired one only where nothing prunes
    assert kept == ({f"{1:032x}"} if pg else {f"{1:032x}", f"{2:032x}"})
    live = challenge(dt.datetime.now(dt.UTC), 1)
    with sessions() as session:
        stored = session.scalars(
            select(UsedChallenge).where(UsedChallenge.challenge_id == live.challenge_id)
        ).one()
    assert not spend(sessions, challenge(stored.expires_at, 1))
    if pg:  # every month the records fall in has its partition: none waits in the default
        assert in_partition(sessions, "access_records_default", "true") == []
    with sessions() as session, session.begin():  # the new ids follow the old ones
        access_log.append(session, entry(13))
    with sessions() as session, session.begin():
        assert access_log.seal(session) == 4
    rows, size, _ = _state(engine)
    assert size == 14 and [r[0] for r in rows] == sorted({r[0] for r in rows})
    assert rows[-1][0] > before[0][-1][0]
    result = CliRunner().invoke(
        app,
        ["verify-log"],
        env={
            "ONSHI_ENV": "development",
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "ONSHI_LOG_WITNESS_URLS": "[]",
        },
    )
    assert result.exit_code == 0, result.output
    assert "access log intact" in result.output
    assert "tree size 14" in result.output


def test_revision_0010_goes_down_to_plain_tables_and_back_keeping_the_tree(
    engine_at_0009: Engine,
) -> None:
    engine = engine_at_0009
    before = _state(engine)
    migrate(engine)
    command.downgrade(alembic_config(engine, MIGRATIONS), "0009")
    assert _state(engine) == before
    sessions = make_session_factory(engine)
    with sessions() as session:
        assert not is_partitioned(session, "access_records")
        assert access_log.verify_chain(session) is None
    migrate(engine)
    assert _state(engine) == before
    with sessions() as session:
        assert access_log.verify_chain(session) is None
