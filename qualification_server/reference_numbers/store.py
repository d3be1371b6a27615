"""The `reference_numbers` table: read a clinic's numbers for persons, register one.

A number names one person at a clinic and a person has one number there: registering
another number for the same person replaces theirs, a number another person holds is
refused (Q4007) and nothing changes. A concurrent registration that wins the race first is
seen on the retry, so the same rules decide it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qualification_server.errors import Code, QualificationError
from qualification_server.models import ClinicReferenceNumber

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class Stored:
    """What registering did: `replaced` is the person's earlier number at the clinic, when
    another one was replaced."""

    replaced: str | None = None


def numbers_for(
    session: Session, *, clinic_code: str, person_refs: Iterable[str]
) -> dict[str, str]:
    """The clinic's number of each of these persons that has one (person reference → number)."""
    refs = set(person_refs)
    if not refs:
        return {}
    rows = session.execute(
        select(ClinicReferenceNumber.person_ref, ClinicReferenceNumber.reference_number).where(
            ClinicReferenceNumber.clinic_code == clinic_code,
            ClinicReferenceNumber.person_ref.in_(refs),
        )
    )
    return {person_ref: number for person_ref, number in rows}


def put(
    session: Session, *, clinic_code: str, person_ref: str, number: str, now: dt.datetime
) -> Stored:
    """Register `number` for the person at the clinic, in the caller's transaction (in a
    savepoint of its own, so a lost race leaves the transaction usable)."""
    for _attempt in range(2):
        try:
            with session.begin_nested():
                return _put(session, clinic_code, person_ref, number, now)
        except IntegrityError:
            continue  # another registration committed first: decided again in its light
    raise QualificationError(Code.INTERNAL, "the reference number could not be stored")


def _put(
    session: Session, clinic_code: str, person_ref: str, number: str, now: dt.datetime
) -> Stored:
    holder = session.scalar(
        select(ClinicReferenceNumber.person_ref).where(
            ClinicReferenceNumber.clinic_code == clinic_code,
            ClinicReferenceNumber.reference_number == number,
        )
    )
    if holder is not None and holder != person_ref:
        raise QualificationError(Code.REFERENCE_NUMBER_TAKEN)
    row = session.get(ClinicReferenceNumber, (clinic_code, person_ref))
    if row is None:
        session.add(
            ClinicReferenceNumber(
                clinic_code=clinic_code,
                person_ref=person_ref,
                reference_number=number,
                registered_at=now,
            )
        )
        session.flush()
        return Stored()
    if row.reference_number == number:
        return Stored()
    replaced = row.reference_number
    row.reference_number = number
    row.registered_at = now
    session.flush()
    return Stored(replaced=replaced)
