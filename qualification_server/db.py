"""The server's database: engine, sessions and migrations (its own Alembic version table, so
it can share a database with the insurer registry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from insurer_registry import db as shared
from insurer_registry.db import make_engine, make_session_factory, transaction

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
    from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "qualification_alembic_version"

__all__ = ["make_engine", "make_session_factory", "migrate", "transaction", "upsert_insert"]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the server's schema to `revision` (the newest by default)."""
    shared.migrate(engine, revision, migrations=MIGRATIONS)


def upsert_insert(session: Session) -> Callable[[Any], PostgresqlInsert | SqliteInsert]:
    """The dialect's INSERT construct, which knows ON CONFLICT (PostgreSQL and SQLite)."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
