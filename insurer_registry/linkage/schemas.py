"""The linkage as the insurer API shows it: element-style names, outcomes per item, never a
value of the items."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from insurer_registry.members.schemas_common import SPEC_NAMES

if TYPE_CHECKING:
    from insurer_registry.linkage.service import Confirmation, HeldMember
    from insurer_registry.linkage.state import Linkage

OutcomeText = Literal["match", "mismatch", "not_given"]
ItemName = Literal["Name", "Birthdate", "Sex1", "Address"]


class LinkagePublic(BaseModel):
    """How the issuer's match of the four items came out, and what that means for answers."""

    model_config = SPEC_NAMES

    status: Literal["pending", "matched", "held", "confirmed"] = Field(
        alias="Status",
        description="matched / confirmed: answered to clinics; held / pending: stored, not "
        "answered until corrected or confirmed by two users (pending: never matched)",
    )
    answered: bool = Field(alias="Answered", description="whether clinics are answered")
    person_known: bool = Field(
        alias="PersonKnownToIssuer",
        description="false: the issuer knows no person with this My Number",
    )
    outcomes: dict[ItemName, OutcomeText] = Field(
        alias="Outcomes", description="per item: match, mismatch, or not_given by the insurer"
    )
    differing: list[ItemName] = Field(alias="DifferingItems")
    checked_at: datetime | None = Field(alias="CheckedAt")

    @classmethod
    def of(cls, linkage: Linkage) -> LinkagePublic:
        """The public view of a linkage."""
        return cls.model_validate(
            {
                "status": linkage.state.value,
                "answered": linkage.state.answered,
                "person_known": linkage.person_known,
                "outcomes": {item.value: outcome.value for item, outcome in linkage.outcomes},
                "differing": [item.value for item in linkage.differing],
                "checked_at": linkage.checked_at,
            },
            by_name=True,
        )


class HeldMemberPublic(BaseModel):
    """One line of the insurer's report of held linkages."""

    model_config = SPEC_NAMES

    qualification_id: int = Field(alias="QualificationId")
    symbol: str | None = Field(alias="InsuredCardSymbol")
    number: str = Field(alias="InsuredIdentificationNumber")
    branch: str = Field(alias="InsuredBranchNumber")
    linkage: LinkagePublic = Field(alias="Linkage")
    confirmed_by: list[str] = Field(
        alias="ConfirmedBy", description="the credentials that confirmed it since it was held"
    )

    @classmethod
    def of(cls, held: HeldMember) -> HeldMemberPublic:
        """The public view of a report line."""
        return cls.model_validate(
            {
                "qualification_id": held.qualification_id,
                "symbol": held.symbol,
                "number": held.number,
                "branch": held.branch,
                "linkage": LinkagePublic.of(held.linkage),
                "confirmed_by": list(held.confirmed_by),
            },
            by_name=True,
        )


class HeldReport(BaseModel):
    """The insurer's held linkages, oldest qualification first; `Next` pages on."""

    model_config = SPEC_NAMES

    held: list[HeldMemberPublic] = Field(alias="Held")
    next_after: int | None = Field(alias="NextAfter")


class ConfirmationPublic(BaseModel):
    """What a confirmation did."""

    model_config = SPEC_NAMES

    qualification_id: int = Field(alias="QualificationId")
    linkage: LinkagePublic = Field(alias="Linkage")
    confirmed_by: list[str] = Field(alias="ConfirmedBy")
    released: bool = Field(alias="Released")

    @classmethod
    def of(cls, confirmation: Confirmation) -> ConfirmationPublic:
        """The public view of a confirmation."""
        return cls.model_validate(
            {
                "qualification_id": confirmation.qualification_id,
                "linkage": LinkagePublic.of(confirmation.linkage),
                "confirmed_by": list(confirmation.confirmed_by),
                "released": confirmation.linkage.state.answered,
            },
            by_name=True,
        )
