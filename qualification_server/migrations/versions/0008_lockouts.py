"""lockouts: the cards' failed face matches, the 目視確認用パスコード issued to clinics

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "face_failures",
        sa.Column("certificate_sha256", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("certificate_sha256"),
    )
    op.create_table(
        "visual_passcodes",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("clinic_code", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_challenge", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index(
        "ix_visual_passcodes_expires_at", "visual_passcodes", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_visual_passcodes_expires_at", table_name="visual_passcodes")
    op.drop_table("visual_passcodes")
    op.drop_table("face_failures")
