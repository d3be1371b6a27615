"""The linkage of one qualification, as stored and as shown. No I/O.

Outcomes are stored as text in `qualifications.linkage_outcomes` and `linkage_events.outcomes`:
`Name=match;Birthdate=match;Sex1=mismatch;Address=not_given`, or `unknown` when the issuer
does not know the person at all. Element names and outcomes only: never a value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from insurer_registry.members.domain import MemberRecord
from onshi_kernel.four_items import FourItemMatch, FourItems, Item, Outcome

UNKNOWN_PERSON = "unknown"
# The record's attributes the match reads: a correction of one of them matches again.
MATCHED_ATTRIBUTES = frozenset({"name", "name_kana", "birthdate", "sex", "address"})


class LinkageState(enum.StrEnum):
    """Where a qualification's linkage stands."""

    PENDING = "pending"  # never matched (stored before matching existed): not answered
    MATCHED = "matched"  # the four items match the issuer's: answered
    HELD = "held"  # they do not, or the issuer does not know the person: not answered
    CONFIRMED = "confirmed"  # held, then confirmed by two of the insurer's users: answered

    @property
    def answered(self) -> bool:
        """True if the qualification may be answered to a clinic."""
        return self in (LinkageState.MATCHED, LinkageState.CONFIRMED)


class LinkageEventKind(enum.StrEnum):
    """What happened to a linkage (`linkage_events.event`)."""

    LINKED = "linked"  # registered: the number linked to the person, and matched
    REMATCHED = "rematched"  # a correction of the four items or the My Number, matched again
    CONFIRMED = "confirmed"  # one insurer user confirmed a held linkage
    RELEASED = "released"  # the second distinct user confirmed it: answered from now on
    UNLINKED = "unlinked"  # a correction moved the number to another person


@dataclass(frozen=True, slots=True)
class Linkage:
    """A qualification's linkage: its state, what the match said per item (no values), when,
    and the last 4 digits of the My Number it was linked by (None if not known)."""

    state: LinkageState
    person_known: bool = True
    outcomes: tuple[tuple[Item, Outcome], ...] = field(default=())
    checked_at: datetime | None = None
    my_number_last4: str | None = None

    @property
    def differing(self) -> tuple[Item, ...]:
        """The items that did not match (every item if the issuer does not know the person)."""
        if not self.person_known:
            return tuple(Item)
        return tuple(item for item, outcome in self.outcomes if outcome is Outcome.MISMATCH)

    @classmethod
    def stored(
        cls,
        state: str,
        outcomes: str | None,
        checked_at: datetime | None,
        my_number_last4: str | None,
    ) -> Linkage:
        """The linkage from its stored columns."""
        known, pairs = decode_outcomes(outcomes)
        return cls(LinkageState(state), known, pairs, checked_at, my_number_last4)


def state_after(match: FourItemMatch) -> LinkageState:
    """The state a fresh match leaves a linkage in."""
    return LinkageState.MATCHED if match.matched else LinkageState.HELD


def encode_outcomes(match: FourItemMatch) -> str:
    """The stored form of a match's outcomes."""
    if not match.person_known:
        return UNKNOWN_PERSON
    return ";".join(f"{item.value}={outcome.value}" for item, outcome in match.outcomes)


def decode_outcomes(text: str | None) -> tuple[bool, tuple[tuple[Item, Outcome], ...]]:
    """(person known, outcomes) from the stored form; None (never matched) is known, none."""
    if text is None:
        return True, ()
    if text == UNKNOWN_PERSON:
        return False, ()
    pairs = []
    for part in text.split(";"):
        item, _, outcome = part.partition("=")
        pairs.append((Item(item), Outcome(outcome)))
    return True, tuple(pairs)


def four_items_of(record: MemberRecord) -> FourItems:
    """What an insurer's record states of the four items."""
    return FourItems(
        name=record.name,
        birthdate=record.birthdate,
        sex=record.sex.value,
        address=record.address,
        name_kana=record.name_kana,
    )


def last_four(my_number: str) -> str:
    """The last 4 digits of a (validated) My Number: all a notice to the person shows."""
    return my_number[-4:]
