"""rate-limit budgets: lookups a minute, batch entries a day, unmatched answers an hour

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lookup_budgets",
        sa.Column("clinic_code", sa.String(length=10), nullable=False),
        sa.Column("budget", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("clinic_code", "budget", "window_start"),
    )
    # per-minute windows only: nothing in them outlives the minute worth carrying over
    op.drop_table("lookup_windows")


def downgrade() -> None:
    op.create_table(
        "lookup_windows",
        sa.Column("clinic_code", sa.String(length=10), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("clinic_code", "window_start"),
    )
    op.drop_table("lookup_budgets")
