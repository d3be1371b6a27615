"""The worlds' databases: a leased database is as its template is, whatever the test that
had it before did to it (on PostgreSQL the same database is put back and leased again)."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.world import Databases

pytestmark = pytest.mark.db

METADATA = MetaData()
PARENTS = Table(
    "parents", METADATA, Column("id", Integer, primary_key=True), Column("name", String(20))
)
CHILDREN = Table(
    "children",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, ForeignKey("parents.id"), nullable=False),
)
KEY = "lease_check"


def build(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    METADATA.create_all(engine)
    with engine.begin() as connection:
        connection.execute(PARENTS.insert(), [{"name": "first"}, {"name": "second"}])
        connection.execute(CHILDREN.insert(), [{"parent_id": 1}, {"parent_id": 2}])
    engine.dispose()


def contents(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    """Both tables' rows, and the id the next parent would get (which is then rolled back)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        parents = [tuple(r) for r in connection.execute(text("SELECT * FROM parents ORDER BY id"))]
        children = [
            tuple(r) for r in connection.execute(text("SELECT * FROM children ORDER BY id"))
        ]
        next_id = connection.execute(PARENTS.insert().values(name="probe")).inserted_primary_key
        connection.rollback()
    engine.dispose()
    assert next_id is not None
    return parents, children, int(next_id[0])


def test_a_leased_database_is_its_template_whatever_the_lease_before_left(
    database_factory: Databases,
) -> None:
    database_factory.template(KEY, build)
    with database_factory.lease("lease", KEY) as url:
        fresh = contents(url)
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(CHILDREN.delete())
            connection.execute(PARENTS.delete().where(PARENTS.c.id == 1))
            connection.execute(PARENTS.insert(), [{"name": f"n{n}"} for n in range(5)])
            connection.execute(CHILDREN.insert(), [{"parent_id": 2}])
        left_open = engine.connect()  # idle in a transaction that holds a lock
        lock = " FOR UPDATE" if url.startswith("postgresql") else ""
        left_open.execute(text(f"SELECT * FROM parents{lock}"))
        first = url
    left_open.invalidate()  # on PostgreSQL it was ended when the database was put back
    assert fresh == (
        [(1, "first"), (2, "second")],
        [(1, 1), (2, 2)],
        3,
    )
    with database_factory.lease("lease", KEY) as url:
        assert contents(url) == fresh
        reused = url == first
        with create_engine(url, poolclass=NullPool).begin() as connection:
            connection.execute(text("ALTER TABLE parents ADD COLUMN extra INTEGER"))
    assert reused == url.startswith("postgresql")
    with database_factory.lease("lease", KEY) as url:
        assert url != first  # a database whose schema changed is not leased again
        assert contents(url) == fresh
