"""The schema comes only from the migrations, and they match the models."""

from __future__ import annotations

import io

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import downgrade, migrate
from insurer_registry.importer.service import import_csv
from insurer_registry.members.audit import Actor
from insurer_registry.models import Base, table_names
from onshi_kernel.db import transaction
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from tests.support.registry import INSURER_A, RegisteredInsurer, TestResidents, my_number

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


def test_the_keyed_digest_migration_runs_on_a_database_that_holds_imports(
    migrated_engine: Engine, sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    """Rows of qualifications and the change log point at `imports`: renaming its column
    must not rebuild the table (SQLite's batch mode would, and dropping it fails on them)."""
    data = (
        "InsurerNumber,MyNumber,InsuredIdentificationNumber,InsuredBranchNumber,"
        "InsuredCardClassification,PersonalFamilyClassification,Name,Sex1,Birthdate,"
        f"QualificationDate\n{INSURER_A},{my_number(7)},77,00,01,1,山田　花子,2,19800401,20200401\n"
    )
    with transaction(sessions) as session:
        import_csv(
            session=session, source=io.BytesIO(data.encode()),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY, actor=Actor.operator("test"),
            register=TestResidents(),
        )  # fmt: skip
    try:
        downgrade(migrated_engine, "0001")
    finally:
        migrate(migrated_engine)
    with migrated_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM imports")).scalar_one() == 1
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
