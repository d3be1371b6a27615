"""Initial schema: insurers, credentials, persons, qualifications and their certificates,
imports, the change log and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 14:06:57.521050
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insurers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurers")),
        sa.UniqueConstraint("number", name=op.f("uq_insurers_number")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("person_ref", name=op.f("uq_persons_person_ref")),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'ins' AND insurer_id IS NOT NULL) OR (kind = 'net' AND insurer_id IS NULL)",
            name=op.f("ck_credentials_insurer_only_for_insurer_credentials"),
        ),
        sa.CheckConstraint("kind IN ('ins', 'net')", name=op.f("ck_credentials_kind")),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_credentials_insurer_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("public_id", name=op.f("uq_credentials_public_id")),
    )
    op.create_index(op.f("ix_credentials_insurer_id"), "credentials", ["insurer_id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_idempotency_keys_insurer_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("insurer_id", "key", name=op.f("uq_idempotency_keys_insurer_id_key")),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_imports_insurer_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(op.f("ix_imports_insurer_id"), "imports", ["insurer_id"], unique=False)
    op.create_table(
        "qualifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=38), nullable=False),
        sa.Column("number", sa.String(length=38), nullable=False),
        sa.Column("branch", sa.String(length=2), nullable=False),
        sa.Column("card_classification", sa.String(length=2), nullable=False),
        sa.Column("personal_family", sa.String(length=1), nullable=False),
        sa.Column("insured_name", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_kana", sa.String(length=100), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birthdate", sa.Date(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("post_number", sa.String(length=8), nullable=True),
        sa.Column("qualification_date", sa.Date(), nullable=False),
        sa.Column("disqualification_date", sa.Date(), nullable=True),
        sa.Column("reason_of_loss", sa.String(length=2), nullable=True),
        sa.Column("contribution_ratio", sa.String(length=3), nullable=True),
        sa.Column("preschool", sa.String(length=1), nullable=True),
        sa.Column("certificate_issuance_date", sa.Date(), nullable=True),
        sa.Column("card_valid_date", sa.Date(), nullable=True),
        sa.Column("card_expiration_date", sa.Date(), nullable=True),
        sa.Column("elderly_certificate_date", sa.Date(), nullable=True),
        sa.Column("elderly_valid_start", sa.Date(), nullable=True),
        sa.Column("elderly_valid_end", sa.Date(), nullable=True),
        sa.Column("elderly_contribution_ratio", sa.String(length=3), nullable=True),
        sa.Column("limit_classification", sa.String(length=2), nullable=True),
        sa.Column("limit_income_class", sa.String(length=3), nullable=True),
        sa.Column("limit_certificate_date", sa.Date(), nullable=True),
        sa.Column("limit_valid_start", sa.Date(), nullable=True),
        sa.Column("limit_valid_end", sa.Date(), nullable=True),
        sa.Column("limit_long_term_date", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "card_classification IS NULL OR "
            "card_classification IN ('01', '02', '03', '04', '05', '06', '07')",
            name=op.f("ck_qualifications_card_classification"),
        ),
        sa.CheckConstraint(
            "contribution_ratio IS NULL OR contribution_ratio IN ('010', '020', '030')",
            name=op.f("ck_qualifications_contribution_ratio"),
        ),
        sa.CheckConstraint(
            "elderly_contribution_ratio IS NULL OR "
            "elderly_contribution_ratio IN ('010', '020', '030')",
            name=op.f("ck_qualifications_elderly_contribution_ratio"),
        ),
        sa.CheckConstraint(
            "limit_classification IS NULL OR limit_classification IN ('01', '02', '03')",
            name=op.f("ck_qualifications_limit_class"),
        ),
        sa.CheckConstraint(
            "personal_family IS NULL OR personal_family IN ('1', '2')",
            name=op.f("ck_qualifications_personal_family"),
        ),
        sa.CheckConstraint(
            "reason_of_loss IS NULL OR reason_of_loss IN ('01', '02', '03', '99')",
            name=op.f("ck_qualifications_reason_of_loss"),
        ),
        sa.CheckConstraint(
            "sex IS NULL OR sex IN ('1', '2', '3')", name=op.f("ck_qualifications_sex")
        ),
        sa.CheckConstraint(
            "(disqualification_date IS NULL) = (reason_of_loss IS NULL)",
            name=op.f("ck_qualifications_loss_has_reason"),
        ),
        sa.CheckConstraint(
            "disqualification_date IS NULL OR disqualification_date >= qualification_date",
            name=op.f("ck_qualifications_loss_not_before_acquisition"),
        ),
        sa.CheckConstraint("length(branch) = 2", name=op.f("ck_qualifications_branch_two_digits")),
        sa.CheckConstraint(
            "qualification_date >= birthdate", name=op.f("ck_qualifications_qualified_after_birth")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_qualifications_import_id")
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_qualifications_insurer_id")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_qualifications_person_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualifications")),
        sa.UniqueConstraint(
            "insurer_id",
            "symbol",
            "number",
            "branch",
            "qualification_date",
            name="uq_qualifications_insured_number",
        ),
    )
    op.create_index(
        "ix_qualifications_insurer_id_birthdate",
        "qualifications",
        ["insurer_id", "birthdate"],
        unique=False,
    )
    op.create_index(
        op.f("ix_qualifications_person_id"), "qualifications", ["person_id"], unique=False
    )
    op.create_table(
        "change_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_change_log_import_id")
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_change_log_insurer_id")
        ),
        sa.ForeignKeyConstraint(
            ["qualification_id"], ["qualifications.id"], name=op.f("fk_change_log_qualification_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
    )
    op.create_index(
        op.f("ix_change_log_qualification_id"), "change_log", ["qualification_id"], unique=False
    )
    op.create_table(
        "specific_disease_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=1), nullable=False),
        sa.Column("valid_start", sa.Date(), nullable=False),
        sa.Column("valid_end", sa.Date(), nullable=True),
        sa.Column("certificate_date", sa.Date(), nullable=True),
        sa.Column("self_pay_limit_yen", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "category IN ('1', '2', '3')", name=op.f("ck_specific_disease_certificates_category")
        ),
        sa.ForeignKeyConstraint(
            ["qualification_id"],
            ["qualifications.id"],
            name=op.f("fk_specific_disease_certificates_qualification_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_specific_disease_certificates")),
    )
    op.create_index(
        op.f("ix_specific_disease_certificates_qualification_id"),
        "specific_disease_certificates",
        ["qualification_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_specific_disease_certificates_qualification_id"),
        table_name="specific_disease_certificates",
    )
    op.drop_table("specific_disease_certificates")
    op.drop_index(op.f("ix_change_log_qualification_id"), table_name="change_log")
    op.drop_table("change_log")
    op.drop_index(op.f("ix_qualifications_person_id"), table_name="qualifications")
    op.drop_index("ix_qualifications_insurer_id_birthdate", table_name="qualifications")
    op.drop_table("qualifications")
    op.drop_index(op.f("ix_imports_insurer_id"), table_name="imports")
    op.drop_table("imports")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_credentials_insurer_id"), table_name="credentials")
    op.drop_table("credentials")
    op.drop_table("persons")
    op.drop_table("insurers")
