"""`QualificationSource` in process: reads the registry's database."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from insurer_registry.errors import InsuredNumberNotFound
from insurer_registry.lookup.types import PersonQualifications, QualificationInfo
from insurer_registry.members.mapping import record_of
from insurer_registry.models import NO_SYMBOL, Insurer, Person, Qualification
from insurer_registry.numbers import InsurerNumber
from insurer_registry.persons import short_ref, validate_person_ref

log = logging.getLogger(__name__)


def person_qualifications(*, session: Session, person_ref: str) -> PersonQualifications:
    """Every qualification of a person, newest first."""
    validate_person_ref(person_ref)
    # One round trip: the insurer and the certificates come joined, not in follow-up queries.
    rows = session.scalars(
        select(Qualification)
        .join(Person, Person.id == Qualification.person_id)
        .where(Person.person_ref == person_ref)
        .options(joinedload(Qualification.specific_diseases), joinedload(Qualification.insurer))
        .order_by(Qualification.qualification_date.desc(), Qualification.id.desc())
    ).unique()
    qualifications = tuple(
        QualificationInfo(
            qualification_id=row.id,
            insurer_number=InsurerNumber(row.insurer.number),
            insurer_name=row.insurer.name,
            record=record_of(row),
        )
        for row in rows
    )
    return PersonQualifications(person_ref=person_ref, qualifications=qualifications)


def holder_of(
    *, session: Session, insurer_number: InsurerNumber, symbol: str | None, number: str, branch: str
) -> str:
    """The person reference of whoever holds an insured number."""
    person_ref = session.scalars(
        select(Person.person_ref)
        .join(Qualification, Qualification.person_id == Person.id)
        .join(Insurer, Insurer.id == Qualification.insurer_id)
        .where(
            Insurer.number == insurer_number.digits,
            Qualification.symbol == (symbol or NO_SYMBOL),
            Qualification.number == number,
            Qualification.branch == branch,
        )
        .order_by(Qualification.qualification_date.desc())
    ).first()
    if person_ref is None:
        raise InsuredNumberNotFound()
    return person_ref


class RegistryQualificationSource:
    """The lookup over the registry's own database (qualification server in process)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def qualifications_of(self, person_ref: str) -> PersonQualifications:
        """Every qualification of the person, newest first."""
        with self._sessions() as session:
            found = person_qualifications(session=session, person_ref=person_ref)
        log.info(
            "lookup person %s: %d qualification(s)",
            short_ref(person_ref),
            len(found.qualifications),
        )
        return found

    def qualifications_by_insured_number(
        self, *, insurer_number: InsurerNumber, symbol: str | None, number: str, branch: str
    ) -> PersonQualifications:
        """The qualifications of the holder of an insured number."""
        with self._sessions() as session:
            person_ref = holder_of(
                session=session,
                insurer_number=insurer_number,
                symbol=symbol,
                number=number,
                branch=branch,
            )
            return person_qualifications(session=session, person_ref=person_ref)
