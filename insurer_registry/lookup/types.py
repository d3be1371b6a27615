"""The values and the interface of the lookup. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from insurer_registry.members.codes import QualificationValidity
from insurer_registry.members.domain import MemberRecord
from onshi_kernel.numbers import InsurerNumber

__all__ = [
    "HeldQualification",
    "InsuredNumber",
    "LinkageEntry",
    "PersonQualifications",
    "QualificationInfo",
    "QualificationSource",
]


@dataclass(frozen=True, slots=True)
class InsuredNumber:
    """What a lookup without the card asks by: the number a health insurance card shows and
    the holder's birth date. `branch` (枝番) is None when the clinic did not send it, as real
    receipt computers do not: then every branch of the card number is a candidate."""

    insurer_number: InsurerNumber
    symbol: str | None
    number: str
    branch: str | None
    birthdate: date

    def matches(self, info: QualificationInfo) -> bool:
        """True if `info` is a qualification under this number held by someone born then."""
        record = info.record
        return (
            info.insurer_number == self.insurer_number
            and (record.symbol or None) == (self.symbol or None)
            and record.number == self.number
            and (self.branch is None or record.branch == self.branch)
            and record.birthdate == self.birthdate
        )


@dataclass(frozen=True, slots=True)
class QualificationInfo:
    """One qualification with everything the answer says about it (consent-gated parts
    included: the qualification server decides what a clinic may see)."""

    qualification_id: int
    insurer_number: InsurerNumber
    insurer_name: str
    record: MemberRecord

    def is_valid_on(self, day: date) -> bool:
        """True if the qualification covers `day`."""
        return self.record.is_valid_on(day)


@dataclass(frozen=True, slots=True)
class HeldQualification:
    """A qualification the registry holds instead of answering: its four items did not match
    the issuer's (or were never matched), so it may be another person's (docs/linkage.md).
    Only which it is, where, since when and which items differ: none of its data."""

    qualification_id: int
    insurer_number: InsurerNumber
    insurer_name: str
    held_since: datetime | None
    differing: tuple[str, ...]  # element names: Name, Birthdate, Sex1, Address
    person_known: bool = True


@dataclass(frozen=True, slots=True)
class PersonQualifications:
    """A person's qualifications across insurers, the history included, newest first.
    `qualifications` holds only those that may be answered; `held` the ones the registry
    holds back because their linkage to the person is in doubt."""

    person_ref: str
    qualifications: tuple[QualificationInfo, ...]
    held: tuple[HeldQualification, ...] = field(default=())

    def current(self, on: date) -> tuple[QualificationInfo, ...]:
        """The qualifications valid on `on`."""
        return tuple(q for q in self.qualifications if q.is_valid_on(on))

    def validity_on(self, on: date) -> QualificationValidity:
        """QualificationValidity of the person on `on` (docs/answer.md): 1 one valid, 5 several,
        2 none valid any more, 4 never qualified."""
        valid = self.current(on)
        if len(valid) == 1:
            return QualificationValidity.VALID
        if len(valid) > 1:
            return QualificationValidity.SEVERAL
        if self.qualifications:
            return QualificationValidity.INVALID
        return QualificationValidity.NOT_FOUND

    def validity_of(self, qualification_id: int, on: date) -> QualificationValidity:
        """QualificationValidity of one qualification on `on`: 3 when it no longer holds
        and a later one of the same person exists."""
        chosen = next(
            (q for q in self.qualifications if q.qualification_id == qualification_id), None
        )
        if chosen is None:
            return QualificationValidity.NOT_FOUND
        if chosen.is_valid_on(on):
            return QualificationValidity.VALID
        newer = any(
            q.record.qualification_date > chosen.record.qualification_date
            for q in self.qualifications
        )
        return (
            QualificationValidity.INVALID_NEWER_EXISTS if newer else QualificationValidity.INVALID
        )


@dataclass(frozen=True, slots=True)
class LinkageEntry:
    """One event of a person's linkage history: which insurer linked (or unlinked) their
    number, when, and how the issuer's match came out. What the person's portal shows."""

    at: datetime
    insurer_number: InsurerNumber
    insurer_name: str
    event: str  # linked, rematched, confirmed, released, unlinked
    state: str  # matched, held, confirmed, pending: the linkage after the event
    person_known: bool
    outcomes: tuple[tuple[str, str], ...]  # (element name, match / mismatch / not_given)
    my_number_last4: str | None


class QualificationSource(Protocol):
    """Where the qualification server gets a person's qualifications."""

    def qualifications_of(self, person_ref: str) -> PersonQualifications:
        """Every qualification of the person, at every insurer; none is an empty answer."""
        ...

    async def aqualifications_of(self, person_ref: str) -> PersonQualifications:
        """`qualifications_of` for async callers (the card check)."""
        ...

    def linkage_history(self, person_ref: str) -> tuple[LinkageEntry, ...]:
        """Every linkage event of the person, oldest first (the person's own view)."""
        ...

    async def aopen(self) -> None:
        """Hold what `aqualifications_of` uses on the running event loop (a pool); without
        it, each call manages on its own."""
        ...

    async def aclose(self) -> None:
        """Release what `aopen` took."""
        ...

    def holders_of(self, insured: InsuredNumber) -> tuple[PersonQualifications, ...]:
        """Every person who holds or held a qualification under `insured` with its birth
        date, each with all their qualifications (a lookup without the card,
        docs/domain.md); none is an empty answer. Without a 枝番 several holders can match
        (twins insured under one card number); a birth date that does not match finds none,
        exactly as an unknown number does."""
        ...
