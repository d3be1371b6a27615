"""crl_high_water: the newest CRL seen of each CA, so that an older one is refused

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crl_high_water",
        sa.Column("ca_key", sa.String(length=64), nullable=False),
        sa.Column("crl_number", sa.String(length=50), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ca_key"),
    )


def downgrade() -> None:
    op.drop_table("crl_high_water")
