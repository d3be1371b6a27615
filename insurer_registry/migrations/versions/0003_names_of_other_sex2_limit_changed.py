"""Elements real answers carry: NameOfOther and NameOfOtherKana (通称名), Sex2, and
LimitApplicationCertificateChanged, as four nullable columns of `qualifications`.

Each is added with a plain ALTER TABLE … ADD COLUMN, its check constraint inline (PostgreSQL,
SQLite): SQLite's batch mode would rebuild the table, and dropping the old one fails on the
foreign keys of change_log (see 0002). Dropping a column with its own inline constraint is
plain too (SQLite ≥ 3.35).

Existing rows are not rewritten: names and readings stored before the registry normalised
them (`members.names`) keep their form until a write restates them (docs/domain.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name, type, the codes it may hold (None: free text). Constraint names follow the models'
# naming convention (ck_<table>_<name>).
COLUMNS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("name_of_other", "VARCHAR(100)", None),
    ("name_of_other_kana", "VARCHAR(100)", None),
    ("sex2", "VARCHAR(1)", ("1", "2", "3")),
    ("limit_changed", "VARCHAR(1)", ("0", "1")),
)


def _definition(name: str, sql_type: str, codes: tuple[str, ...] | None) -> str:
    if codes is None:
        return f"{name} {sql_type}"
    listed = ", ".join(f"'{code}'" for code in codes)
    return (
        f"{name} {sql_type} CONSTRAINT ck_qualifications_{name} "
        f"CHECK ({name} IS NULL OR {name} IN ({listed}))"
    )


def upgrade() -> None:
    for name, sql_type, codes in COLUMNS:
        op.execute(
            sa.text(f"ALTER TABLE qualifications ADD COLUMN {_definition(name, sql_type, codes)}")
        )


def downgrade() -> None:
    for name, _, _ in reversed(COLUMNS):
        op.execute(sa.text(f"ALTER TABLE qualifications DROP COLUMN {name}"))
