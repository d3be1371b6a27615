"""What an insurer can do with its members: register, correct, record a loss, read,
search, and read a qualification's change history.

Every function acts for one insurer and sees only that insurer's qualifications: another
insurer's qualification is `QualificationNotFound`, exactly like one that does not exist.
Rules that span records are checked here, under locks (see `persons.serialize_on`):

- the same insured number (記号・番号・枝番) and qualification date is one qualification;
- an insured number belongs to one person at its insurer;
- a person holds at most one qualification at an insurer at any time. Periods are half-open:
  the loss date (資格喪失日) is the first day without, so a new period may start on it.

Every registration, and every correction of the four items (氏名・生年月日・性別・住所, the
reading too) or of the My Number, is matched against the issuer's resident register in the
same transaction (`linkage.service`): a mismatch is stored but held (docs/linkage.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from insurer_registry.errors import (
    AlreadyLost,
    CallerMistake,
    InsuredNumberTaken,
    OverlappingQualification,
    QualificationExists,
    QualificationNotFound,
    VersionConflict,
)
from insurer_registry.insurers.service import InsurerInfo
from insurer_registry.linkage.service import linkage_of, match_row, record_unlinked
from insurer_registry.linkage.state import MATCHED_ATTRIBUTES, Linkage, LinkageEventKind
from insurer_registry.members.audit import Action, Actor, Change, changes_of, record_change
from insurer_registry.members.codes import ReasonOfLoss
from insurer_registry.members.domain import MY_NUMBER_ELEMENT, MemberRecord, changed_elements
from insurer_registry.members.mapping import record_of, write_record
from insurer_registry.members.names import kana_key
from insurer_registry.members.persons import person_id_for, serialize_on, short_ref
from insurer_registry.models import NO_SYMBOL, Person, Qualification, utc_now
from onshi_kernel.four_items import ResidentRegister

log = logging.getLogger(__name__)
SEARCH_LIMIT_MAX = 1000


@dataclass(frozen=True, slots=True)
class Member:
    """A stored qualification as its insurer sees it."""

    id: int
    insurer: InsurerInfo
    person_ref: str
    record: MemberRecord
    version: int
    created_at: datetime
    updated_at: datetime
    linkage: Linkage


@dataclass(frozen=True, slots=True)
class MemberSearch:
    """What to look for; every given criterion must match. Dates and names are compared
    exactly; kana ignores spaces, width and katakana or hiragana (`names.kana_key`)."""

    symbol: str | None = None
    number: str | None = None
    branch: str | None = None
    person_ref: str | None = None
    name_kana: str | None = None
    birthdate: date | None = None
    valid_on: date | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= SEARCH_LIMIT_MAX:
            raise CallerMistake(f"limit must be between 1 and {SEARCH_LIMIT_MAX}")
        given = (self.number, self.person_ref, self.name_kana, self.birthdate)
        if all(value is None for value in given):
            raise CallerMistake("search by insured number, person, kana name or birth date")


def _member(row: Qualification, insurer: InsurerInfo) -> Member:
    return Member(
        id=row.id,
        insurer=insurer,
        person_ref=row.person.person_ref,
        record=record_of(row),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        linkage=linkage_of(row),
    )


def _own_qualification(
    session: Session, insurer: InsurerInfo, qualification_id: int, *, for_update: bool = False
) -> Qualification:
    query = (
        select(Qualification)
        .where(Qualification.id == qualification_id, Qualification.insurer_id == insurer.id)
        .options(selectinload(Qualification.specific_diseases), selectinload(Qualification.person))
    )
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise QualificationNotFound(qualification_id)
    return row


def _insured_number_key(insurer: InsurerInfo, record: MemberRecord) -> str:
    return f"insured:{insurer.id}:{record.symbol or NO_SYMBOL}:{record.number}:{record.branch}"


def _check_against_others(
    session: Session,
    *,
    insurer: InsurerInfo,
    person_id: int,
    record: MemberRecord,
    exclude_id: int | None,
) -> None:
    """Raise the conflict `record` would create with the insurer's other qualifications."""
    others = select(Qualification).where(Qualification.insurer_id == insurer.id)
    if exclude_id is not None:
        others = others.where(Qualification.id != exclude_id)
    same_number = others.where(
        Qualification.symbol == (record.symbol or NO_SYMBOL),
        Qualification.number == record.number,
        Qualification.branch == record.branch,
    )
    for row in session.scalars(same_number):
        if row.qualification_date == record.qualification_date:
            raise QualificationExists(row.id)
        if row.person_id != person_id:
            raise InsuredNumberTaken(row.id)
    start, end = record.qualification_date, record.disqualification_date
    overlapping = others.where(
        Qualification.person_id == person_id,
        or_(
            Qualification.disqualification_date.is_(None),
            Qualification.disqualification_date > start,
        ),
    )
    if end is not None:
        overlapping = overlapping.where(Qualification.qualification_date < end)
    clash = session.scalars(overlapping.order_by(Qualification.qualification_date)).first()
    if clash is not None:
        raise OverlappingQualification(
            clash.id, clash.qualification_date, clash.disqualification_date
        )


def register_member(
    *,
    session: Session,
    insurer: InsurerInfo,
    person_ref: str,
    record: MemberRecord,
    actor: Actor,
    register: ResidentRegister,
    my_number_last4: str | None = None,
) -> Member:
    """Register a qualification of the person `person_ref` at `insurer`, matched against
    the issuer's `register` (held if its four items do not match). `my_number_last4`: the
    last 4 digits of the My Number it is linked by, what the person is shown."""
    serialize_on(session, f"person:{person_ref}", _insured_number_key(insurer, record))
    person_id = person_id_for(session=session, person_ref=person_ref)
    _check_against_others(
        session, insurer=insurer, person_id=person_id, record=record, exclude_id=None
    )
    now = utc_now()
    row = Qualification(
        insurer_id=insurer.id,
        person_id=person_id,
        version=1,
        created_at=now,
        updated_at=now,
        my_number_last4=my_number_last4,
    )
    write_record(row, record)
    session.add(row)
    session.flush()
    match_row(
        session,
        row=row,
        person_ref=person_ref,
        register=register,
        event=LinkageEventKind.LINKED,
        actor=actor,
    )
    record_change(
        session=session,
        actor=actor,
        action=Action.REGISTER,
        qualification_id=row.id,
        version=row.version,
        fields=(),
        at=now,
    )
    log.info(
        "registered qualification %s at insurer %s for person %s by %s",
        row.id,
        insurer.number,
        short_ref(person_ref),
        actor.label,
    )
    session.refresh(row, ["person"])
    return _member(row, insurer)


def _apply(
    session: Session,
    *,
    insurer: InsurerInfo,
    row: Qualification,
    record: MemberRecord,
    person_ref: str,
    action: Action,
    actor: Actor,
    register: ResidentRegister | None,
    my_number_last4: str | None = None,
    import_id: int | None = None,
) -> Member:
    before = record_of(row)
    fields = list(changed_elements(before, record))
    person_changed = person_ref != row.person.person_ref
    rematch = person_changed or any(
        getattr(before, name) != getattr(record, name) for name in MATCHED_ATTRIBUTES
    )
    if person_changed:
        fields.append(MY_NUMBER_ELEMENT)
    if not fields:
        return _member(row, insurer)
    serialize_on(
        session,
        f"person:{person_ref}",
        f"person:{row.person.person_ref}",
        _insured_number_key(insurer, record),
    )
    person_id = person_id_for(session=session, person_ref=person_ref) if person_changed else None
    _check_against_others(
        session,
        insurer=insurer,
        person_id=person_id if person_id is not None else row.person_id,
        record=record,
        exclude_id=row.id,
    )
    old_person_id, old_last4 = row.person_id, row.my_number_last4
    if person_id is not None:
        row.person_id = person_id
        row.my_number_last4 = my_number_last4
    write_record(row, record)
    row.version += 1
    row.updated_at = utc_now()
    session.flush()
    if rematch:
        if register is None:  # pragma: no cover - every caller that can change them passes one
            raise RuntimeError("a change of the four items needs the resident register")
        if person_id is not None:
            record_unlinked(
                session, row=row, old_person_id=old_person_id, old_last4=old_last4, actor=actor
            )
        match_row(
            session,
            row=row,
            person_ref=person_ref,
            register=register,
            event=LinkageEventKind.REMATCHED,
            actor=actor,
            import_id=import_id,
        )
    record_change(
        session=session,
        actor=actor,
        action=action,
        qualification_id=row.id,
        version=row.version,
        fields=fields,
        import_id=import_id,
        at=row.updated_at,
    )
    log.info(
        "%s qualification %s (version %d, fields %s) by %s",
        action.value,
        row.id,
        row.version,
        ",".join(fields),
        actor.label,
    )
    session.refresh(row, ["person"])
    return _member(row, insurer)


def correct_member(
    *,
    session: Session,
    insurer: InsurerInfo,
    qualification_id: int,
    changes: Mapping[str, Any],
    actor: Actor,
    register: ResidentRegister,
    person_ref: str | None = None,
    my_number_last4: str | None = None,
    expected_version: int | None = None,
) -> Member:
    """Correct fields of a qualification. `changes` maps `MemberRecord` attributes to new
    values (None clears an optional one); `person_ref` moves it to another person (a wrong
    My Number at registration; `my_number_last4` its last 4 digits). Unchanged values are no
    change: nothing is logged. A change of the four items or the person is matched again:
    a held linkage whose correction matches is released, a match that fails holds it."""
    row = _own_qualification(session, insurer, qualification_id, for_update=True)
    if expected_version is not None and expected_version != row.version:
        raise VersionConflict(qualification_id, expected_version, row.version)
    record = dataclasses.replace(record_of(row), **changes)
    return _apply(
        session,
        insurer=insurer,
        row=row,
        record=record,
        person_ref=person_ref or row.person.person_ref,
        action=Action.CORRECT,
        actor=actor,
        register=register,
        my_number_last4=my_number_last4,
    )


def record_loss(
    *,
    session: Session,
    insurer: InsurerInfo,
    qualification_id: int,
    loss_date: date,
    reason: ReasonOfLoss,
    actor: Actor,
) -> Member:
    """Record the loss (資格喪失) of a qualification: `loss_date` is the first day without."""
    row = _own_qualification(session, insurer, qualification_id, for_update=True)
    current = record_of(row)
    if current.disqualification_date is not None:
        raise AlreadyLost(qualification_id, current.disqualification_date)
    record = dataclasses.replace(current, disqualification_date=loss_date, reason_of_loss=reason)
    return _apply(
        session,
        insurer=insurer,
        row=row,
        record=record,
        person_ref=row.person.person_ref,
        action=Action.RECORD_LOSS,
        actor=actor,
        register=None,
    )


def apply_imported_record(
    *,
    session: Session,
    insurer: InsurerInfo,
    qualification_id: int,
    record: MemberRecord,
    actor: Actor,
    import_id: int,
    register: ResidentRegister,
) -> Member:
    """Bring a qualification to the state a bulk import states for it (a correction, or a
    loss when only the loss date and reason change). Its 特定疾病 certificates stay."""
    row = _own_qualification(session, insurer, qualification_id, for_update=True)
    before = record_of(row)
    # The CSV carries no 特定疾病 certificates: an import keeps the ones registered.
    record = dataclasses.replace(record, specific_diseases=before.specific_diseases)
    only_loss = (
        before.disqualification_date is None
        and record.disqualification_date is not None
        and set(changed_elements(before, record)) <= {"DisqualificationDate", "ReasonOfLoss"}
    )
    return _apply(
        session,
        insurer=insurer,
        row=row,
        record=record,
        person_ref=row.person.person_ref,
        action=Action.RECORD_LOSS if only_loss else Action.CORRECT,
        actor=actor,
        register=register,
        import_id=import_id,
    )


def get_member(*, session: Session, insurer: InsurerInfo, qualification_id: int) -> Member:
    """One of the insurer's qualifications."""
    return _member(_own_qualification(session, insurer, qualification_id), insurer)


def _search_query(insurer: InsurerInfo, criteria: MemberSearch) -> Select[Qualification]:
    query = (
        select(Qualification)
        .where(Qualification.insurer_id == insurer.id)
        .options(selectinload(Qualification.specific_diseases), selectinload(Qualification.person))
    )
    if criteria.number is not None:
        query = query.where(Qualification.number == criteria.number)
    if criteria.symbol is not None:
        query = query.where(Qualification.symbol == criteria.symbol)
    if criteria.branch is not None:
        query = query.where(Qualification.branch == criteria.branch)
    if criteria.person_ref is not None:
        query = query.join(Person, Person.id == Qualification.person_id).where(
            Person.person_ref == criteria.person_ref
        )
    if criteria.birthdate is not None:
        query = query.where(Qualification.birthdate == criteria.birthdate)
    if criteria.valid_on is not None:
        day = criteria.valid_on
        query = query.where(
            Qualification.qualification_date <= day,
            or_(
                Qualification.disqualification_date.is_(None),
                Qualification.disqualification_date > day,
            ),
        )
    return query.order_by(Qualification.qualification_date.desc(), Qualification.id)


def search_members(
    *, session: Session, insurer: InsurerInfo, criteria: MemberSearch
) -> list[Member]:
    """The insurer's qualifications matching `criteria`, newest first, at most `limit`."""
    query = _search_query(insurer, criteria)
    if criteria.name_kana is None:
        rows = session.scalars(query.limit(criteria.limit))
        return [_member(row, insurer) for row in rows]
    wanted = kana_key(criteria.name_kana)
    found: list[Member] = []
    for row in session.scalars(query.execution_options(yield_per=500)):
        if row.name_kana is not None and kana_key(row.name_kana) == wanted:
            found.append(_member(row, insurer))
            if len(found) == criteria.limit:
                break
    return found


def member_history(
    *, session: Session, insurer: InsurerInfo, qualification_id: int
) -> list[Change]:
    """The change history of one of the insurer's qualifications, oldest first."""
    _own_qualification(session, insurer, qualification_id)
    return changes_of(session=session, qualification_id=qualification_id)


__all__ = [
    "Member",
    "MemberSearch",
    "apply_imported_record",
    "correct_member",
    "get_member",
    "member_history",
    "record_loss",
    "register_member",
    "search_members",
]
