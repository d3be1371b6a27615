"""Persons, known only by `person_ref` (the keyed hash of the My Number)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from insurer_registry.models import Person, utc_now

PERSON_REF_LENGTH = 64


def validate_person_ref(person_ref: str) -> str:
    """`person_ref` if it is shaped like one (64 lower-case hex); ValueError otherwise."""
    if len(person_ref) != PERSON_REF_LENGTH or not all(c in "0123456789abcdef" for c in person_ref):
        raise ValueError("a person reference is 64 lower-case hex characters")
    return person_ref


def short_ref(person_ref: str) -> str:
    """The prefix of a person reference that logs may carry."""
    return person_ref[:8] + "…"


def person_id_for(*, session: Session, person_ref: str, now: datetime | None = None) -> int:
    """The id of the person with this reference, creating the person on first sight."""
    validate_person_ref(person_ref)
    dialect = session.get_bind().dialect.name
    values = {"person_ref": person_ref, "created_at": now or utc_now()}
    if dialect == "postgresql":
        session.execute(
            postgresql.insert(Person).values(values).on_conflict_do_nothing(),
        )
    elif dialect == "sqlite":
        session.execute(sqlite.insert(Person).values(values).on_conflict_do_nothing())
    elif session.scalar(select(Person.id).where(Person.person_ref == person_ref)) is None:
        session.execute(insert(Person).values(values))
    person_id = session.scalar(select(Person.id).where(Person.person_ref == person_ref))
    if person_id is None:  # pragma: no cover - the row was inserted above
        raise RuntimeError("person row vanished inside its transaction")
    return person_id


def serialize_on(session: Session, *keys: str) -> None:
    """Hold transaction-scoped locks on `keys`, so that checks spanning several rows (one
    qualification at a time per person and insurer; one insured number, one person) cannot
    race. PostgreSQL: advisory locks, in a fixed order; SQLite: its transactions already
    take the write lock at BEGIN (see `db.make_engine`)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(lock_id)))
