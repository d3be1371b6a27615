"""Matching a qualification's four items against the issuer, holding and releasing it, and
reading what happened.

Every function works inside the caller's transaction: a registration, its match and the
event it leaves commit together or not at all, so a crash between them leaves neither a
linked-but-unmatched row nor an event without its row. Confirming takes the qualification's
row lock (`SELECT … FOR UPDATE`; SQLite serialises writers anyway), so two users confirming at
once are counted one after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from insurer_registry.errors import (
    LinkageAlreadyConfirmedBy,
    LinkageConfirmationByOperator,
    LinkageNotHeld,
    QualificationNotFound,
)
from insurer_registry.insurers.service import InsurerInfo
from insurer_registry.linkage.state import (
    Linkage,
    LinkageEventKind,
    LinkageState,
    encode_outcomes,
    four_items_of,
    state_after,
)
from insurer_registry.members.audit import Actor
from insurer_registry.members.mapping import record_of
from insurer_registry.models import LinkageEvent, Qualification, utc_now
from onshi_kernel.four_items import FourItemMatch, ResidentRegister

log = logging.getLogger(__name__)
CONFIRMATIONS_TO_RELEASE = 2
PENDING_BATCH = 1000


def linkage_of(row: Qualification) -> Linkage:
    """The stored linkage of a qualification."""
    return Linkage.stored(
        row.linkage, row.linkage_outcomes, row.linkage_checked_at, row.my_number_last4
    )


def apply_match(
    session: Session,
    *,
    row: Qualification,
    match: FourItemMatch,
    event: LinkageEventKind,
    actor: Actor,
    at: datetime | None = None,
    import_id: int | None = None,
) -> Linkage:
    """Store what a match of `row`'s four items said, and the event that asked for it."""
    now = at or utc_now()
    row.linkage = state_after(match).value
    row.linkage_outcomes = encode_outcomes(match)
    row.linkage_checked_at = now
    _event(session, row=row, event=event, actor=actor, at=now, import_id=import_id)
    linkage = linkage_of(row)
    if linkage.state is LinkageState.HELD:
        log.warning(
            "linkage held: qualification %s at insurer %s, items %s%s",
            row.id,
            row.insurer_id,
            ",".join(item.value for item in linkage.differing),
            "" if linkage.person_known else " (person unknown to the issuer)",
        )
    return linkage


def match_row(
    session: Session,
    *,
    row: Qualification,
    person_ref: str,
    register: ResidentRegister,
    event: LinkageEventKind,
    actor: Actor,
    import_id: int | None = None,
) -> Linkage:
    """Match `row` (as it now stands, linked to `person_ref`) and store the outcome."""
    match = register.match(person_ref, four_items_of(record_of(row)))
    return apply_match(session, row=row, match=match, event=event, actor=actor, import_id=import_id)


def record_unlinked(
    session: Session,
    *,
    row: Qualification,
    old_person_id: int,
    old_last4: str | None,
    actor: Actor,
) -> None:
    """A correction moved `row` to another person: the old person's history says so, with
    the last 4 digits it had been linked by (never the new person's)."""
    _event(
        session,
        row=row,
        event=LinkageEventKind.UNLINKED,
        actor=actor,
        at=utc_now(),
        person_id=old_person_id,
        outcomes=None,
        my_number_last4=old_last4,
    )


def _event(
    session: Session,
    *,
    row: Qualification,
    event: LinkageEventKind,
    actor: Actor,
    at: datetime,
    import_id: int | None = None,
    person_id: int | None = None,
    outcomes: str | bool | None = True,
    my_number_last4: str | bool | None = True,
) -> None:
    session.add(
        LinkageEvent(
            at=at,
            qualification_id=row.id,
            person_id=row.person_id if person_id is None else person_id,
            insurer_id=row.insurer_id,
            event=event.value,
            state=row.linkage,
            outcomes=row.linkage_outcomes if outcomes is True else outcomes or None,
            my_number_last4=(
                row.my_number_last4 if my_number_last4 is True else my_number_last4 or None
            ),
            actor=actor.label,
            request_id=actor.request_id,
            import_id=import_id,
        )
    )


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a confirmation did: the linkage after it and who has confirmed since the hold."""

    qualification_id: int
    linkage: Linkage
    confirmed_by: tuple[str, ...]


def confirm_linkage(
    *, session: Session, insurer: InsurerInfo, qualification_id: int, actor: Actor
) -> Confirmation:
    """One insurer user confirms a held linkage (the person is who the insurer says, the
    issuer's items notwithstanding). The second distinct user's confirmation releases it."""
    if not actor.label.startswith("credential:"):
        raise LinkageConfirmationByOperator(qualification_id)
    row = session.scalar(
        select(Qualification)
        .where(Qualification.id == qualification_id, Qualification.insurer_id == insurer.id)
        .with_for_update()
    )
    if row is None:
        raise QualificationNotFound(qualification_id)
    if row.linkage != LinkageState.HELD.value:
        raise LinkageNotHeld(qualification_id, row.linkage)
    confirmed = _confirmed_since_hold(session, row)
    if actor.label in confirmed:
        raise LinkageAlreadyConfirmedBy(qualification_id)
    now = utc_now()
    _event(session, row=row, event=LinkageEventKind.CONFIRMED, actor=actor, at=now)
    confirmed = (*confirmed, actor.label)
    if len(confirmed) >= CONFIRMATIONS_TO_RELEASE:
        row.linkage = LinkageState.CONFIRMED.value
        _event(session, row=row, event=LinkageEventKind.RELEASED, actor=actor, at=now)
        log.info("linkage released: qualification %s confirmed by %s", row.id, ", ".join(confirmed))
    session.flush()
    return Confirmation(row.id, linkage_of(row), confirmed)


def _confirmed_since_hold(session: Session, row: Qualification) -> tuple[str, ...]:
    """Who confirmed `row` since the match that last held it."""
    return _confirmations_since_hold(session, [row.id]).get(row.id, ())


def _confirmations_since_hold(
    session: Session, qualification_ids: Sequence[int]
) -> dict[int, tuple[str, ...]]:
    """For each qualification, who confirmed it since the match that last held it: one
    query for them all, newest event first."""
    events = session.execute(
        select(LinkageEvent.qualification_id, LinkageEvent.event, LinkageEvent.actor)
        .where(LinkageEvent.qualification_id.in_(qualification_ids))
        .order_by(LinkageEvent.qualification_id, LinkageEvent.id.desc())
    ).all()
    confirmed: dict[int, list[str]] = {}
    matched: set[int] = set()
    for qualification_id, event, who in events:
        if qualification_id in matched:
            continue
        if event == LinkageEventKind.CONFIRMED.value:
            confirmed.setdefault(qualification_id, []).append(who)
        elif event in (LinkageEventKind.LINKED.value, LinkageEventKind.REMATCHED.value):
            matched.add(qualification_id)
    return {q: tuple(dict.fromkeys(reversed(who))) for q, who in confirmed.items()}


@dataclass(frozen=True, slots=True)
class HeldMember:
    """A line of the insurer's report of held linkages: which qualification, its insured
    number, since when, which items differ. Never a value of the items."""

    qualification_id: int
    symbol: str | None
    number: str
    branch: str
    linkage: Linkage
    confirmed_by: tuple[str, ...]


def held_members(
    *, session: Session, insurer: InsurerInfo, limit: int = 1000, after_id: int = 0
) -> list[HeldMember]:
    """The insurer's held (and never matched) linkages, oldest qualification first."""
    rows = session.scalars(
        select(Qualification)
        .where(
            Qualification.insurer_id == insurer.id,
            Qualification.linkage.in_([LinkageState.HELD.value, LinkageState.PENDING.value]),
            Qualification.id > after_id,
        )
        .order_by(Qualification.id)
        .limit(limit)
    ).all()
    confirmed = _confirmations_since_hold(session, [row.id for row in rows])
    return [
        HeldMember(
            qualification_id=row.id,
            symbol=row.symbol or None,
            number=row.number,
            branch=row.branch,
            linkage=linkage_of(row),
            confirmed_by=confirmed.get(row.id, ()),
        )
        for row in rows
    ]


def match_pending(*, session: Session, register: ResidentRegister, actor: Actor) -> int:
    """Match every qualification that was never matched (stored before matching existed),
    in batches, set-wise against the register. Returns how many were matched."""
    done = 0
    while True:
        rows: Sequence[Qualification] = session.scalars(
            select(Qualification)
            .where(Qualification.linkage == LinkageState.PENDING.value)
            .options(
                selectinload(Qualification.person), selectinload(Qualification.specific_diseases)
            )
            .order_by(Qualification.id)
            .limit(PENDING_BATCH)
        ).all()
        if not rows:
            return done
        matches = register.match_many(
            [(row.person.person_ref, four_items_of(record_of(row))) for row in rows]
        )
        for row, match in zip(rows, matches, strict=True):
            apply_match(
                session, row=row, match=match, event=LinkageEventKind.REMATCHED, actor=actor
            )
        session.flush()
        done += len(rows)
        log.info("matched %d pending linkage(s) so far", done)
