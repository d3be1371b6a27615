"""Keyed digests: the import file's digest and the idempotency fingerprints become
HMAC-SHA-256 under a key outside the database (`insurer_registry.digests`).

The unkeyed SHA-256 values stored before cannot be keyed without the files and bodies they
came from, and they are what made a My Number recoverable, so they are removed: an old
import's digest becomes empty, and an old idempotency key keeps its stored answer but no
longer matches any request, so a late retry under it is refused as a reused key (409)
instead of running twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A plain RENAME COLUMN (PostgreSQL, SQLite ≥ 3.25): SQLite's batch mode would rebuild the
# table, and dropping the old one fails on the foreign keys of qualifications and change_log.


def upgrade() -> None:
    op.execute(sa.text("ALTER TABLE imports RENAME COLUMN file_sha256 TO file_digest"))
    op.execute(sa.text("UPDATE imports SET file_digest = ''"))
    op.execute(sa.text("UPDATE idempotency_keys SET request_hash = 'unkeyed, removed'"))


def downgrade() -> None:
    op.execute(sa.text("ALTER TABLE imports RENAME COLUMN file_digest TO file_sha256"))
