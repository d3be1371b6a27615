"""The registry's tables (SQLAlchemy 2). The schema itself is made by the Alembic
migrations in `migrations/`; a test keeps the two in step.

Codes are stored as their wire values (docs/answer.md) (`"01"`, `"030"`), dates as dates, and the
person only as `person_ref`, the keyed hash of the My Number. An absent 記号 is stored as
the empty string so that the insured number can be unique on every database (NULLs are
never equal to each other in a unique index).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
NO_SYMBOL = ""


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back as aware UTC, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def _in(column: str, codes: list[str]) -> str:
    listed = ", ".join(f"'{code}'" for code in codes)
    return f"{column} IS NULL OR {column} IN ({listed})"


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Insurer(Base):
    """An insurer (保険者): its number, name and scheme."""

    __tablename__ = "insurers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Credential(Base):
    """An API credential; only the digest of its secret is kept (see `credentials`)."""

    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint("kind IN ('ins', 'net')", name="kind"),
        CheckConstraint(
            "(kind = 'ins' AND insurer_id IS NOT NULL) OR (kind = 'net' AND insurer_id IS NULL)",
            name="insurer_only_for_insurer_credentials",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(3))
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("insurers.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    insurer: Mapped[Insurer | None] = relationship()


class Person(Base):
    """A person, known only by the keyed hash of their My Number."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_ref: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Import(Base):
    """One committed bulk import: who sent which file, when, and what it did."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("insurers.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(200))
    file_digest: Mapped[str] = mapped_column(String(64))  # keyed: `digests`
    encoding: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Qualification(Base):
    """One qualification (資格) of a person at an insurer; columns follow the answer's elements."""

    __tablename__ = "qualifications"
    __table_args__ = (
        # The individual insured number (docs/numbers.md) and the date it was acquired.
        UniqueConstraint(
            "insurer_id",
            "symbol",
            "number",
            "branch",
            "qualification_date",
            name="uq_qualifications_insured_number",
        ),
        Index("ix_qualifications_insurer_id_birthdate", "insurer_id", "birthdate"),
        CheckConstraint("length(branch) = 2", name="branch_two_digits"),
        CheckConstraint("qualification_date >= birthdate", name="qualified_after_birth"),
        CheckConstraint(
            "disqualification_date IS NULL OR disqualification_date >= qualification_date",
            name="loss_not_before_acquisition",
        ),
        CheckConstraint(
            "(disqualification_date IS NULL) = (reason_of_loss IS NULL)",
            name="loss_has_reason",
        ),
        CheckConstraint(
            _in("card_classification", ["01", "02", "03", "04", "05", "06", "07"]),
            name="card_classification",
        ),
        CheckConstraint(_in("personal_family", ["1", "2"]), name="personal_family"),
        CheckConstraint(_in("sex", ["1", "2", "3"]), name="sex"),
        CheckConstraint(_in("sex2", ["1", "2", "3"]), name="sex2"),
        CheckConstraint(_in("reason_of_loss", ["01", "02", "03", "99"]), name="reason_of_loss"),
        CheckConstraint(
            _in("contribution_ratio", ["010", "020", "030"]), name="contribution_ratio"
        ),
        CheckConstraint(
            _in("elderly_contribution_ratio", ["010", "020", "030"]),
            name="elderly_contribution_ratio",
        ),
        CheckConstraint(_in("limit_classification", ["01", "02", "03"]), name="limit_class"),
        CheckConstraint(_in("limit_changed", ["0", "1"]), name="limit_changed"),
        CheckConstraint("linkage IN ('pending', 'matched', 'held', 'confirmed')", name="linkage"),
        Index("ix_qualifications_insurer_id_linkage", "insurer_id", "linkage"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(38), default=NO_SYMBOL)
    number: Mapped[str] = mapped_column(String(38))
    branch: Mapped[str] = mapped_column(String(2))
    card_classification: Mapped[str] = mapped_column(String(2))
    personal_family: Mapped[str] = mapped_column(String(1))
    insured_name: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str | None] = mapped_column(String(100))
    name_of_other: Mapped[str | None] = mapped_column(String(100))  # 通称名
    name_of_other_kana: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(1))
    sex2: Mapped[str | None] = mapped_column(String(1))
    birthdate: Mapped[date] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(200))
    post_number: Mapped[str | None] = mapped_column(String(8))
    qualification_date: Mapped[date] = mapped_column(Date)
    disqualification_date: Mapped[date | None] = mapped_column(Date)
    reason_of_loss: Mapped[str | None] = mapped_column(String(2))
    contribution_ratio: Mapped[str | None] = mapped_column(String(3))
    preschool: Mapped[str | None] = mapped_column(String(1))
    certificate_issuance_date: Mapped[date | None] = mapped_column(Date)
    card_valid_date: Mapped[date | None] = mapped_column(Date)
    card_expiration_date: Mapped[date | None] = mapped_column(Date)
    elderly_certificate_date: Mapped[date | None] = mapped_column(Date)
    elderly_valid_start: Mapped[date | None] = mapped_column(Date)
    elderly_valid_end: Mapped[date | None] = mapped_column(Date)
    elderly_contribution_ratio: Mapped[str | None] = mapped_column(String(3))
    limit_changed: Mapped[str | None] = mapped_column(String(1))
    limit_classification: Mapped[str | None] = mapped_column(String(2))
    limit_income_class: Mapped[str | None] = mapped_column(String(3))
    limit_certificate_date: Mapped[date | None] = mapped_column(Date)
    limit_valid_start: Mapped[date | None] = mapped_column(Date)
    limit_valid_end: Mapped[date | None] = mapped_column(Date)
    limit_long_term_date: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # The linkage of this insured number to the person (docs/linkage.md): the issuer's match
    # of the four items. Only `matched` and `confirmed` are answered; `pending` (never matched,
    # rows from before migration 0004) and `held` are not.
    linkage: Mapped[str] = mapped_column(String(10), default="pending")
    # Per item, what the match said (`linkage.outcomes`): element names and outcomes, no values.
    linkage_outcomes: Mapped[str | None] = mapped_column(String(120))
    linkage_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The last 4 digits of the My Number it was linked by: what the person is shown.
    my_number_last4: Mapped[str | None] = mapped_column(String(4))

    insurer: Mapped[Insurer] = relationship()
    person: Mapped[Person] = relationship()
    specific_diseases: Mapped[list[SpecificDiseaseCertificate]] = relationship(
        cascade="all, delete-orphan",
        order_by="SpecificDiseaseCertificate.id",
    )


class SpecificDiseaseCertificate(Base):
    """A 特定疾病療養受療証 attached to a qualification."""

    __tablename__ = "specific_disease_certificates"
    __table_args__ = (CheckConstraint("category IN ('1', '2', '3')", name="category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(
        ForeignKey("qualifications.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(1))
    valid_start: Mapped[date] = mapped_column(Date)
    valid_end: Mapped[date | None] = mapped_column(Date)
    certificate_date: Mapped[date | None] = mapped_column(Date)
    self_pay_limit_yen: Mapped[int | None] = mapped_column(Integer)


class ChangeLogEntry(Base):
    """Append-only: who changed which fields of which qualification, and when.

    Values are not copied here, only the element names of the fields that changed;
    the My Number never is (a change of person is logged as the element `MyNumber`).
    """

    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    actor: Mapped[str] = mapped_column(String(100))
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("insurers.id"))
    request_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualifications.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[str]] = mapped_column(JSON)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))


class LinkageEvent(Base):
    """Append-only: each match of a qualification's four items, each confirmation of a held
    one, each release, each move of the insured number away from a person. What the person
    sees of who linked their number (the portal) and what the insurer's report is made of.
    Item names and outcomes only, never a value."""

    __tablename__ = "linkage_events"
    __table_args__ = (
        CheckConstraint(
            "event IN ('linked', 'rematched', 'confirmed', 'released', 'unlinked')",
            name="event",
        ),
        CheckConstraint("state IN ('pending', 'matched', 'held', 'confirmed')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # Only the qualification is a foreign key: the person, the insurer and the import are
    # copies of what the qualification named at the time (an `unlinked` event keeps the person
    # it was moved away from), written once and never updated; their foreign-key checks were
    # most of the cost of a bulk import's events (BENCHMARKS.md).
    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualifications.id"), index=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    insurer_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10))  # the qualification's linkage after it
    outcomes: Mapped[str | None] = mapped_column(String(120))
    my_number_last4: Mapped[str | None] = mapped_column(String(4))
    actor: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(200))
    import_id: Mapped[int | None] = mapped_column(Integer)


class IdempotencyRecord(Base):
    """A write request id (Idempotency-Key) of an insurer, with the answer it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("insurer_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


def table_names() -> list[str]:
    """Every table of the registry, children before parents (the order to empty them)."""
    return [table.name for table in reversed(Base.metadata.sorted_tables)]


__all__: list[Any] = [
    "Base",
    "ChangeLogEntry",
    "Credential",
    "IdempotencyRecord",
    "Import",
    "Insurer",
    "Person",
    "Qualification",
    "SpecificDiseaseCertificate",
    "table_names",
]
