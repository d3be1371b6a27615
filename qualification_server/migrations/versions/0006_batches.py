"""batches and batch_entries: the two-step 一括照会 (submit, then fetch by reception number)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reception_number", sa.String(length=16), nullable=False),
        sa.Column("clinic_code", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("entries_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmation_date", sa.Date(), nullable=False),
        sa.Column("arbitrary_file_identifier", sa.String(length=64), nullable=True),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reception_number"),
        sa.UniqueConstraint("clinic_code", "idempotency_key"),
    )
    op.create_index("ix_batches_clinic_code", "batches", ["clinic_code"])
    op.create_index("ix_batches_finished_at", "batches", ["finished_at"])
    op.create_table(
        "batch_entries",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("query_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("unit_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("batch_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("batch_entries")
    op.drop_index("ix_batches_finished_at", table_name="batches")
    op.drop_index("ix_batches_clinic_code", table_name="batches")
    op.drop_table("batches")
