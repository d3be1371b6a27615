"""Alembic environment of the qualification server."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from qualification_server.db import VERSION_TABLE
from qualification_server.models import Base

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    from qualification_server.db import make_engine
    from qualification_server.settings import Settings

    return make_engine(Settings().database_url)


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
