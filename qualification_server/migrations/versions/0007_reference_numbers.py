"""reference_numbers: 照会番号, a clinic's own number for a person

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reference_numbers",
        sa.Column("clinic_code", sa.String(length=10), nullable=False),
        sa.Column("person_ref", sa.String(length=64), nullable=False),
        sa.Column("reference_number", sa.String(length=20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("clinic_code", "person_ref"),
        sa.UniqueConstraint("clinic_code", "reference_number"),
    )


def downgrade() -> None:
    op.drop_table("reference_numbers")
