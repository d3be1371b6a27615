"""Alembic environment: the engine comes from `db.alembic_config`, or from the settings
when Alembic is run by hand (`alembic -c insurer_registry/alembic.ini …`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from insurer_registry.models import Base

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    from insurer_registry.db import make_engine
    from insurer_registry.settings import Settings

    return make_engine(Settings().database_url)


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
