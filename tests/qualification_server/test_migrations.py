"""The server's schema comes only from its migrations, and they match the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from onshi_kernel.db import alembic_config
from qualification_server.db import MIGRATIONS, VERSION_TABLE, make_engine, migrate
from qualification_server.models import Base

pytestmark = pytest.mark.db


def test_migrations_match_the_models_and_go_down_and_back(database_factory: object) -> None:
    engine = make_engine(database_factory("migrations"))  # type: ignore[operator]
    try:
        migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, Base.metadata) == []
        command.downgrade(alembic_config(engine, MIGRATIONS), "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {VERSION_TABLE}
        migrate(engine)
        with engine.connect() as connection:
            assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
