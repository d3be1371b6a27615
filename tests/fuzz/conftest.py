"""The registry's database fixtures, for the import properties (SQLite by default, the
PostgreSQL at `DATABASE_URL` when set, as in `tests/insurer_registry`)."""

from __future__ import annotations

from tests.insurer_registry.conftest import (  # noqa: F401 - fixtures
    client,
    database_url,
    engine,
    insurer_a,
    insurer_b,
    migrated_engine,
    sessions,
    settings,
)
