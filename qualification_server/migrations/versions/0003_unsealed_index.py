"""access records: a partial index of the unsealed ones, for the sealer

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNSEALED = sa.text("chain_pos IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_access_records_unsealed",
        "access_records",
        ["id"],
        postgresql_where=_UNSEALED,
        sqlite_where=_UNSEALED,
    )


def downgrade() -> None:
    op.drop_index("ix_access_records_unsealed", table_name="access_records")
