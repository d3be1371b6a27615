"""The values and the interface of the lookup. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from insurer_registry.errors import InsuredNumberNotFound
from insurer_registry.members.codes import QualificationValidity
from insurer_registry.members.domain import MemberRecord
from onshi_kernel.numbers import InsurerNumber

# What a source raises for a number nobody holds: part of the lookup's interface.
__all__ = [
    "InsuredNumberNotFound",
    "PersonQualifications",
    "QualificationInfo",
    "QualificationSource",
]


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
class PersonQualifications:
    """A person's qualifications across insurers, the history included, newest first."""

    person_ref: str
    qualifications: tuple[QualificationInfo, ...]

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


class QualificationSource(Protocol):
    """Where the qualification server gets a person's qualifications."""

    def qualifications_of(self, person_ref: str) -> PersonQualifications:
        """Every qualification of the person, at every insurer; none is an empty answer."""
        ...

    async def aqualifications_of(self, person_ref: str) -> PersonQualifications:
        """`qualifications_of` for async callers (the card check)."""
        ...

    async def aopen(self) -> None:
        """Hold what `aqualifications_of` uses on the running event loop (a pool); without
        it, each call manages on its own."""
        ...

    async def aclose(self) -> None:
        """Release what `aopen` took."""
        ...

    def qualifications_by_insured_number(
        self, *, insurer_number: InsurerNumber, symbol: str | None, number: str, branch: str
    ) -> PersonQualifications:
        """The qualifications of the person holding this insured number (a lookup without
        the card, docs/domain.md); `InsuredNumberNotFound` when nobody holds it."""
        ...
