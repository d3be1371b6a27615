"""The server's database: engine, sessions and migrations (its own Alembic version table, so
it can share a database with the insurer registry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onshi_kernel import db as kernel
from onshi_kernel.db import make_engine, make_session_factory, transaction

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
    from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "qualification_alembic_version"

__all__ = [
    "database_now",
    "make_engine",
    "make_session_factory",
    "migrate",
    "transaction",
    "upsert_insert",
]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the server's schema to `revision` (the newest by default)."""
    kernel.migrate(engine, revision, migrations=MIGRATIONS)


def upsert_insert(session: Session) -> Callable[[Any], PostgresqlInsert | SqliteInsert]:
    """The dialect's INSERT construct, which knows ON CONFLICT (PostgreSQL and SQLite)."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def database_now(dialect: str, offset_s: int = 0) -> ColumnElement[Any]:
    """The database's clock, `offset_s` seconds on, as an SQL expression.

    What several instances must agree on (has a challenge expired? may its used row go?) is
    decided by the one clock they share, not by each instance's own. On SQLite it is the
    machine's UTC clock in the text form SQLAlchemy stores date-times in, so comparing with a
    stored one compares the moments.
    """
    if dialect == "postgresql":
        return func.now() + text(f"interval '{int(offset_s)} seconds'")
    return func.datetime("now", f"{int(offset_s):+d} seconds")
