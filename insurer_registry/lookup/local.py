"""`QualificationSource` in process: reads the registry's database."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC
from itertools import groupby
from operator import itemgetter
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import AsyncPostgres
from insurer_registry.linkage.state import Linkage, LinkageState
from insurer_registry.lookup.types import (
    HeldQualification,
    InsuredNumber,
    LinkageEntry,
    PersonQualifications,
    QualificationInfo,
)
from insurer_registry.members.domain import FLAT_FIELDS
from insurer_registry.members.mapping import stored_certificate, stored_record
from insurer_registry.members.persons import short_ref, validate_person_ref
from insurer_registry.models import NO_SYMBOL, Insurer, LinkageEvent, Person, Qualification
from insurer_registry.models import SpecificDiseaseCertificate as CertificateRow
from onshi_kernel.numbers import InsurerNumber

log = logging.getLogger(__name__)


_Q = Qualification.__table__
_I = Insurer.__table__
_P = Person.__table__
_C = CertificateRow.__table__
_CERTIFICATE_COLUMNS = (
    "category",
    "valid_start",
    "valid_end",
    "certificate_date",
    "self_pay_limit_yen",
)

# One round trip, Core rather than ORM (this is the hot path of every card check): each
# qualification with its insurer, once per 特定疾病 certificate (outer join), newest first.
_PERSON_QUALIFICATIONS = (
    select(
        _Q.c.id,
        _I.c.number.label("insurer_number"),
        _I.c.name.label("insurer_name"),
        _Q.c.linkage,
        _Q.c.linkage_outcomes,
        _Q.c.linkage_checked_at,
        *(_Q.c[name] for name in FLAT_FIELDS),
        _C.c.id.label("certificate_id"),
        *(_C.c[name].label(f"certificate_{name}") for name in _CERTIFICATE_COLUMNS),
    )
    .select_from(
        _Q.join(_P, _P.c.id == _Q.c.person_id)
        .join(_I, _I.c.id == _Q.c.insurer_id)
        .outerjoin(_C, _C.c.qualification_id == _Q.c.id)
    )
    .where(_P.c.person_ref == bindparam("person_ref"))
    .order_by(_Q.c.qualification_date.desc(), _Q.c.id.desc(), _C.c.id)
)


# The same query as SQL text for psycopg's async connections (the card check's hot path).
_PERSON_QUALIFICATIONS_SQL = str(
    _PERSON_QUALIFICATIONS.compile(dialect=PGDialect_psycopg())  # type: ignore[no-untyped-call]
)
_PERSON_QUALIFICATIONS_KEYS = tuple(_PERSON_QUALIFICATIONS.selected_columns.keys())


def _qualification(rows: list[Mapping[Any, Any]]) -> QualificationInfo:
    """One qualification from its joined rows (one per certificate, or one without)."""
    first = rows[0]
    certificates = [
        stored_certificate(*(row[f"certificate_{name}"] for name in _CERTIFICATE_COLUMNS))
        for row in rows
        if row["certificate_id"] is not None
    ]
    return QualificationInfo(
        qualification_id=first["id"],
        insurer_number=InsurerNumber(first["insurer_number"]),
        insurer_name=first["insurer_name"],
        record=stored_record(first, certificates),
    )


def _held(row: Mapping[Any, Any]) -> HeldQualification:
    """A qualification held back: where and why, none of its data."""
    linkage = Linkage.stored(row["linkage"], row["linkage_outcomes"], None, None)
    checked_at = row["linkage_checked_at"]
    if checked_at is not None and checked_at.tzinfo is None:  # the async path reads it raw
        checked_at = checked_at.replace(tzinfo=UTC)
    return HeldQualification(
        qualification_id=row["id"],
        insurer_number=InsurerNumber(row["insurer_number"]),
        insurer_name=row["insurer_name"],
        held_since=checked_at,
        differing=tuple(item.value for item in linkage.differing),
        person_known=linkage.person_known,
    )


def _person(person_ref: str, rows: Iterable[Mapping[Any, Any]]) -> PersonQualifications:
    qualifications: list[QualificationInfo] = []
    held: list[HeldQualification] = []
    for _, group in groupby(rows, key=itemgetter("id")):
        joined = list(group)
        if LinkageState(joined[0]["linkage"]).answered:
            qualifications.append(_qualification(joined))
        else:
            held.append(_held(joined[0]))
    return PersonQualifications(
        person_ref=person_ref, qualifications=tuple(qualifications), held=tuple(held)
    )


def person_qualifications(
    *, session: Session | Connection, person_ref: str
) -> PersonQualifications:
    """Every qualification of a person, newest first."""
    validate_person_ref(person_ref)
    rows = session.execute(_PERSON_QUALIFICATIONS, {"person_ref": person_ref}).mappings()
    return _person(person_ref, rows)


def holders_of(
    *, session: Session | Connection, insured: InsuredNumber
) -> tuple[PersonQualifications, ...]:
    """Every person who holds or held a qualification under `insured` with its birth date,
    each with all their qualifications, in 枝番 order."""
    found = (
        select(Person.person_ref)
        .join(Qualification, Qualification.person_id == Person.id)
        .join(Insurer, Insurer.id == Qualification.insurer_id)
        .where(
            Insurer.number == insured.insurer_number.digits,
            Qualification.symbol == (insured.symbol or NO_SYMBOL),
            Qualification.number == insured.number,
            Qualification.birthdate == insured.birthdate,
        )
        .group_by(Person.person_ref)
        .order_by(func.min(Qualification.branch), Person.person_ref)
    )
    if insured.branch is not None:
        found = found.where(Qualification.branch == insured.branch)
    return tuple(
        person_qualifications(session=session, person_ref=person_ref)
        for person_ref in session.scalars(found)
    )


def person_linkage_history(*, session: Session, person_ref: str) -> tuple[LinkageEntry, ...]:
    """Every linkage event of the person, at every insurer, oldest first."""
    validate_person_ref(person_ref)
    rows = session.execute(
        select(LinkageEvent, Insurer.number, Insurer.name)
        .join(Person, Person.id == LinkageEvent.person_id)
        .join(Insurer, Insurer.id == LinkageEvent.insurer_id)
        .where(Person.person_ref == person_ref)
        .order_by(LinkageEvent.id)
    ).all()
    history = []
    for event, number, name in rows:
        linkage = Linkage.stored(event.state, event.outcomes, event.at, event.my_number_last4)
        history.append(
            LinkageEntry(
                at=event.at,
                insurer_number=InsurerNumber(number),
                insurer_name=name,
                event=event.event,
                state=linkage.state.value,
                person_known=linkage.person_known,
                outcomes=tuple((item.value, outcome.value) for item, outcome in linkage.outcomes),
                my_number_last4=event.my_number_last4,
            )
        )
    return tuple(history)


class RegistryQualificationSource:
    """The lookup over the registry's own database (qualification server in process)."""

    def __init__(self, database: Engine | sessionmaker[Session]) -> None:
        # Reads only, on plain connections: no ORM session on the hot path.
        self._engine: Engine = database if isinstance(database, Engine) else database.kw["bind"]
        self._async = (
            AsyncPostgres(self._engine.url) if self._engine.dialect.name == "postgresql" else None
        )

    async def aqualifications_of(self, person_ref: str) -> PersonQualifications:
        """`qualifications_of` for async callers: on PostgreSQL one prepared statement on an
        async connection; elsewhere the same lookup in a worker thread."""
        if self._async is None:
            return await anyio.to_thread.run_sync(self.qualifications_of, person_ref)
        validate_person_ref(person_ref)
        async with self._async.connection() as connection:
            cursor = await connection.execute(
                _PERSON_QUALIFICATIONS_SQL, {"person_ref": person_ref}, prepare=True
            )
            rows = await cursor.fetchall()
        keys = _PERSON_QUALIFICATIONS_KEYS
        found = _person(person_ref, (dict(zip(keys, row, strict=True)) for row in rows))
        log.info("lookup person %s: %d qualification(s)", short_ref(person_ref), len(rows))
        return found

    async def aopen(self) -> None:
        """Open the running event loop's connection pool (the app's start-up)."""
        if self._async is not None:
            await self._async.open()

    async def aclose(self) -> None:
        """Close the running event loop's connection pool (the app's shutdown)."""
        if self._async is not None:
            await self._async.aclose()

    def qualifications_of(self, person_ref: str) -> PersonQualifications:
        """Every qualification of the person, newest first."""
        with self._engine.connect() as connection:
            found = person_qualifications(session=connection, person_ref=person_ref)
        log.info(
            "lookup person %s: %d qualification(s)",
            short_ref(person_ref),
            len(found.qualifications),
        )
        return found

    def holders_of(self, insured: InsuredNumber) -> tuple[PersonQualifications, ...]:
        """Whoever holds or held `insured` with its birth date, with their qualifications."""
        with self._engine.connect() as connection:
            return holders_of(session=connection, insured=insured)

    def linkage_history(self, person_ref: str) -> tuple[LinkageEntry, ...]:
        """Every linkage event of the person, oldest first."""
        with Session(self._engine) as session:
            return person_linkage_history(session=session, person_ref=person_ref)
