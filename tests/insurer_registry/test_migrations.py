"""The schema comes only from the migrations, and they match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from insurer_registry.db import downgrade, migrate
from insurer_registry.models import Base, table_names

pytestmark = pytest.mark.db


def test_migrated_schema_matches_the_models(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_migrations_go_down_to_nothing_and_back(migrated_engine: Engine) -> None:
    downgrade(migrated_engine, "base")
    try:
        with migrated_engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    finally:
        migrate(migrated_engine)
    with migrated_engine.connect() as connection:
        assert set(table_names()) <= set(inspect(connection).get_table_names())


def test_migrating_twice_changes_nothing(migrated_engine: Engine) -> None:
    migrate(migrated_engine)
    with migrated_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
