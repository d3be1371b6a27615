"""access records: the unsealed ones in a partial index of their own, the chain's positions
in a unique index that leaves them out

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
_SEALED = sa.text("chain_pos IS NOT NULL")
# 0001 made the unique constraint without a name: PostgreSQL named it, SQLite did not
_NAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
_CONSTRAINT = {
    "postgresql": "access_records_chain_pos_key",
    "sqlite": "uq_access_records_chain_pos",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("access_records", naming_convention=_NAMED) as batch_op:
        batch_op.drop_constraint(_CONSTRAINT.get(dialect, "uq_access_records_chain_pos"), "unique")
    op.create_index(
        "uq_access_records_chain_pos",
        "access_records",
        ["chain_pos"],
        unique=True,
        postgresql_where=_SEALED,
        sqlite_where=_SEALED,
    )
    op.create_index(
        "ix_access_records_unsealed",
        "access_records",
        ["id"],
        postgresql_where=_UNSEALED,
        sqlite_where=_UNSEALED,
    )


def downgrade() -> None:
    op.drop_index("ix_access_records_unsealed", table_name="access_records")
    op.drop_index("uq_access_records_chain_pos", table_name="access_records")
    with op.batch_alter_table("access_records") as batch_op:
        batch_op.create_unique_constraint("access_records_chain_pos_key", ["chain_pos"])
