"""The server's schema comes only from its migrations, and they match the models.

On PostgreSQL the access log and the used challenges are partitioned (revision 0010): the
partitions are the housekeeper's, not the models', and the positions' unique index of the
models is SQLite's (`ddl_if`), each partition holding its own (tests/.../test_partitions.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from onshi_kernel.db import alembic_config
from qualification_server.db import MIGRATIONS, VERSION_TABLE, make_engine, migrate
from qualification_server.models import Base

pytestmark = pytest.mark.db


def _partitions(connection: Connection) -> set[str]:
    if connection.dialect.name != "postgresql":
        return set()
    return set(connection.scalars(text("SELECT inhrelid::regclass::text FROM pg_inherits")))


def _compared(connection: Connection) -> MigrationContext:
    """A context that compares what the models declare for this dialect: no partitions, no
    index made only on another dialect."""
    partitions = _partitions(connection)

    def include(item: Any, name: str | None, kind: str, reflected: bool, _: Any) -> bool:
        if kind == "table" and reflected and name in partitions:
            return False
        only = getattr(item, "_ddl_if", None)
        return only is None or only.dialect in (None, connection.dialect.name)

    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "include_object": include}
    )


def test_migrations_match_the_models_and_go_down_and_back(database_factory: object) -> None:
    engine = make_engine(database_factory("migrations"))  # type: ignore[operator]
    try:
        migrate(engine)
        with engine.connect() as connection:
            assert compare_metadata(_compared(connection), Base.metadata) == []
        command.downgrade(alembic_config(engine, MIGRATIONS), "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {VERSION_TABLE}
        migrate(engine)
        with engine.connect() as connection:
            assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
