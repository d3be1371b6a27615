"""The registry's database: the kernel's engines and sessions, and the registry's own
migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from onshi_kernel import db as kernel
from onshi_kernel.db import (
    AsyncPostgres,
    make_engine,
    make_session_factory,
    transaction,
    with_psycopg3,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

__all__ = [
    "MIGRATIONS",
    "AsyncPostgres",
    "downgrade",
    "make_engine",
    "make_session_factory",
    "migrate",
    "transaction",
    "with_psycopg3",
]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the registry's schema to `revision` (the newest by default)."""
    kernel.migrate(engine, revision, migrations=MIGRATIONS)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the registry's schema back to `revision` (`base` removes every table)."""
    kernel.downgrade(engine, revision, migrations=MIGRATIONS)
