"""The server's database: engine, sessions and migrations (its own Alembic version table, so
it can share a database with the insurer registry)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from insurer_registry.db import make_engine, make_session_factory, transaction

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "qualification_alembic_version"

__all__ = ["make_engine", "make_session_factory", "migrate", "transaction"]


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default)."""
    command.upgrade(alembic_config(engine), revision)
