"""The linkage of an insured number to a person (docs/linkage.md): the issuer's four-item
match per qualification, the last 4 digits of the My Number it was linked by, and the
append-only `linkage_events` (a foreign key to the qualification only: the person, insurer and
import it names are copies, see the model).

Rows stored before this revision were never matched: they become `pending`, which is not
answered, and `insurer-registry migrate` matches them against the resident register right
after the schema is upgraded (`linkage.service.match_pending`). Their last 4 digits are not
known (the My Number was never stored) and stay empty.

Columns are added with plain ALTER TABLE … ADD COLUMN (see 0003 for why not batch mode).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'pending', 'matched', 'held', 'confirmed'"


def upgrade() -> None:
    op.execute(
        sa.text(
            "ALTER TABLE qualifications ADD COLUMN linkage VARCHAR(10) DEFAULT 'pending' NOT NULL "
            f"CONSTRAINT ck_qualifications_linkage CHECK (linkage IN ({STATES}))"
        )
    )
    for column in (
        "linkage_outcomes VARCHAR(120)",
        f"linkage_checked_at {'TIMESTAMP WITHOUT TIME ZONE' if _postgres() else 'DATETIME'}",
        "my_number_last4 VARCHAR(4)",
    ):
        op.execute(sa.text(f"ALTER TABLE qualifications ADD COLUMN {column}"))
    op.create_index(
        "ix_qualifications_insurer_id_linkage", "qualifications", ["insurer_id", "linkage"]
    )
    op.create_table(
        "linkage_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("outcomes", sa.String(length=120), nullable=True),
        sa.Column("my_number_last4", sa.String(length=4), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "event IN ('linked', 'rematched', 'confirmed', 'released', 'unlinked')",
            name=op.f("ck_linkage_events_event"),
        ),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_linkage_events_state")),
        sa.ForeignKeyConstraint(
            ["qualification_id"],
            ["qualifications.id"],
            name=op.f("fk_linkage_events_qualification_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_events")),
    )
    op.create_index("ix_linkage_events_qualification_id", "linkage_events", ["qualification_id"])
    op.create_index("ix_linkage_events_person_id", "linkage_events", ["person_id"])


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def downgrade() -> None:
    op.drop_index("ix_linkage_events_person_id", table_name="linkage_events")
    op.drop_index("ix_linkage_events_qualification_id", table_name="linkage_events")
    op.drop_table("linkage_events")
    op.drop_index("ix_qualifications_insurer_id_linkage", table_name="qualifications")
    for column in ("my_number_last4", "linkage_checked_at", "linkage_outcomes", "linkage"):
        op.execute(sa.text(f"ALTER TABLE qualifications DROP COLUMN {column}"))
