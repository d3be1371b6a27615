"""The network endpoint's JSON: the same element names as the member API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from insurer_registry.lookup.types import (
    HeldQualification,
    InsuredNumber,
    LinkageEntry,
    PersonQualifications,
    QualificationInfo,
)
from insurer_registry.members.schemas import (
    ElderlyCertificateBody,
    LimitCertificateBody,
    MemberFields,
    SpecificDiseaseBody,
)
from insurer_registry.members.schemas_common import (
    SPEC_NAMES,
    BranchNumber,
    InsurerNumberText,
    WireDate,
)
from onshi_kernel.numbers import InsurerNumber


class ByPerson(BaseModel):
    """Ask by person reference."""

    model_config = SPEC_NAMES

    person_ref: str = Field(alias="PersonRef", pattern="^[0-9a-f]{64}$")


class ByInsuredNumber(BaseModel):
    """Ask by insured number and birth date (a lookup without the card); without
    `InsuredBranchNumber` every 枝番 of the card number is a candidate."""

    model_config = SPEC_NAMES

    insurer_number: InsurerNumberText = Field(alias="InsurerNumber")
    symbol: str | None = Field(None, alias="InsuredCardSymbol")
    number: str = Field(alias="InsuredIdentificationNumber")
    branch: BranchNumber | None = Field(None, alias="InsuredBranchNumber")
    birthdate: WireDate = Field(alias="Birthdate")

    def value(self) -> InsuredNumber:
        """The lookup this body asks for."""
        return InsuredNumber(
            insurer_number=InsurerNumber.parse(self.insurer_number),
            symbol=self.symbol,
            number=self.number,
            branch=self.branch,
            birthdate=self.birthdate,
        )

    @classmethod
    def of(cls, insured: InsuredNumber) -> ByInsuredNumber:
        """The wire form of a lookup."""
        return cls.model_validate(
            {
                "insurer_number": insured.insurer_number.digits,
                "symbol": insured.symbol,
                "number": insured.number,
                "branch": insured.branch,
                "birthdate": insured.birthdate,
            },
            by_name=True,
        )


class NetworkQualification(MemberFields):
    """One qualification on the network wire."""

    qualification_id: int = Field(alias="QualificationId")
    insurer_number: str = Field(alias="InsurerNumber", description="6 or 8 digits, unpadded")
    insurer_name: str = Field(alias="InsurerName")

    @classmethod
    def of(cls, info: QualificationInfo) -> NetworkQualification:
        """The wire form of a qualification."""
        record = info.record
        values = {name: getattr(record, name) for name in MemberFields.model_fields}
        values["elderly"] = ElderlyCertificateBody.of(record.elderly) if record.elderly else None
        values["limit"] = LimitCertificateBody.of(record.limit) if record.limit else None
        values["specific_diseases"] = [
            SpecificDiseaseBody.of(certificate) for certificate in record.specific_diseases
        ]
        return cls.model_validate(
            {
                **values,
                "qualification_id": info.qualification_id,
                "insurer_number": info.insurer_number.digits,
                "insurer_name": info.insurer_name,
            },
            by_name=True,
        )

    def info(self) -> QualificationInfo:
        """The value this wire form carries."""
        return QualificationInfo(
            qualification_id=self.qualification_id,
            insurer_number=InsurerNumber(self.insurer_number),
            insurer_name=self.insurer_name,
            record=self.record(),
        )


class NetworkHeld(BaseModel):
    """A qualification held back on the network wire: where, since when, which items
    differ; none of its data."""

    model_config = SPEC_NAMES

    qualification_id: int = Field(alias="QualificationId")
    insurer_number: str = Field(alias="InsurerNumber")
    insurer_name: str = Field(alias="InsurerName")
    held_since: datetime | None = Field(alias="HeldSince")
    differing: list[str] = Field(alias="DifferingItems")
    person_known: bool = Field(alias="PersonKnownToIssuer")

    @classmethod
    def of(cls, held: HeldQualification) -> NetworkHeld:
        """The wire form."""
        return cls.model_validate(
            {
                "qualification_id": held.qualification_id,
                "insurer_number": held.insurer_number.digits,
                "insurer_name": held.insurer_name,
                "held_since": held.held_since,
                "differing": list(held.differing),
                "person_known": held.person_known,
            },
            by_name=True,
        )

    def value(self) -> HeldQualification:
        """The value this wire form carries."""
        return HeldQualification(
            qualification_id=self.qualification_id,
            insurer_number=InsurerNumber(self.insurer_number),
            insurer_name=self.insurer_name,
            held_since=self.held_since,
            differing=tuple(self.differing),
            person_known=self.person_known,
        )


class PersonQualificationsBody(BaseModel):
    """A person's qualifications that may be answered, newest first, and the ones held."""

    model_config = SPEC_NAMES

    person_ref: str = Field(alias="PersonRef")
    qualifications: list[NetworkQualification] = Field(alias="Qualifications")
    held: list[NetworkHeld] = Field(default=[], alias="Held")

    @classmethod
    def of(cls, found: PersonQualifications) -> PersonQualificationsBody:
        """The wire form."""
        return cls.model_validate(
            {
                "person_ref": found.person_ref,
                "qualifications": [NetworkQualification.of(q) for q in found.qualifications],
                "held": [NetworkHeld.of(h) for h in found.held],
            },
            by_name=True,
        )

    def value(self) -> PersonQualifications:
        """The value this wire form carries."""
        return PersonQualifications(
            person_ref=self.person_ref,
            qualifications=tuple(q.info() for q in self.qualifications),
            held=tuple(h.value() for h in self.held),
        )


class NetworkLinkageEntry(BaseModel):
    """One event of a person's linkage history on the network wire."""

    model_config = SPEC_NAMES

    at: datetime = Field(alias="At")
    insurer_number: str = Field(alias="InsurerNumber")
    insurer_name: str = Field(alias="InsurerName")
    event: str = Field(alias="Event")
    state: str = Field(alias="State")
    person_known: bool = Field(alias="PersonKnownToIssuer")
    outcomes: dict[str, str] = Field(alias="Outcomes")
    my_number_last4: str | None = Field(alias="MyNumberLast4")

    @classmethod
    def of(cls, entry: LinkageEntry) -> NetworkLinkageEntry:
        """The wire form."""
        return cls.model_validate(
            {
                "at": entry.at,
                "insurer_number": entry.insurer_number.digits,
                "insurer_name": entry.insurer_name,
                "event": entry.event,
                "state": entry.state,
                "person_known": entry.person_known,
                "outcomes": dict(entry.outcomes),
                "my_number_last4": entry.my_number_last4,
            },
            by_name=True,
        )

    def value(self) -> LinkageEntry:
        """The value this wire form carries."""
        return LinkageEntry(
            at=self.at,
            insurer_number=InsurerNumber(self.insurer_number),
            insurer_name=self.insurer_name,
            event=self.event,
            state=self.state,
            person_known=self.person_known,
            outcomes=tuple(self.outcomes.items()),
            my_number_last4=self.my_number_last4,
        )


class LinkageHistoryBody(BaseModel):
    """A person's linkage history, oldest first."""

    model_config = SPEC_NAMES

    person_ref: str = Field(alias="PersonRef")
    entries: list[NetworkLinkageEntry] = Field(alias="Entries")

    def value(self) -> tuple[LinkageEntry, ...]:
        """The entries this wire form carries."""
        return tuple(entry.value() for entry in self.entries)


class HoldersBody(BaseModel):
    """The holders of an insured number with its birth date (none, one, or several)."""

    model_config = SPEC_NAMES

    holders: list[PersonQualificationsBody] = Field(alias="Holders")

    @classmethod
    def of(cls, found: tuple[PersonQualifications, ...]) -> HoldersBody:
        """The wire form."""
        return cls.model_validate(
            {"holders": [PersonQualificationsBody.of(person) for person in found]}, by_name=True
        )

    def value(self) -> tuple[PersonQualifications, ...]:
        """The holders this wire form carries."""
        return tuple(person.value() for person in self.holders)
