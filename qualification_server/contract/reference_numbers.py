"""照会番号登録: a clinic registers its own number for a patient (the real interface's
OQS-IF-003/004 single, 009..012 bulk; docs/answer.md). Its later answers about that person
carry the number as `ReferenceNumber`; no other clinic's do.

The person is named as in a 個別照会 (`QualificationConfirmSearchInfo`). Element names are
the real interface's; the HTTP routes and bodies around them are this project's, and the
bulk registration is answered in one step where the real one takes four [chosen].
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from qualification_server.contract.schemas import Flag, InsuredCardQuery, Spec, Strict

REFERENCE_NUMBER_PATTERN = r"^[0-9A-Za-z]{1,20}$"
ReferenceNumberText = Annotated[
    str,
    Field(
        pattern=REFERENCE_NUMBER_PATTERN,
        description="照会番号: the clinic's own patient number (診察券番号, カルテ番号), 1 to 20 "
        "ASCII letters and digits, leading zeros kept",
    ),
]


class ReferenceNumberEntry(Spec):
    """One person, named as in a 個別照会, and the clinic's number for them."""

    QualificationConfirmSearchInfo: InsuredCardQuery = Field(
        description="the person's insured number and birth date; without 枝番 it must name "
        "one holder (several: Q4006)"
    )
    ReferenceNumber: ReferenceNumberText


class ReferenceNumberRequest(Strict):
    """照会番号登録 of one person (OQSsiimm01req)."""

    entry: ReferenceNumberEntry
    arbitrary_file_identifier: str | None = Field(default=None, max_length=64)


class ReferenceNumberBatchRequest(Strict):
    """照会番号一括登録 (OQSmuimm01req): each entry registered or refused on its own."""

    entries: list[ReferenceNumberEntry] = Field(
        min_length=1,
        description="at most the server's configured number of entries (2,000 unless set "
        "otherwise; more is refused with Q4003)",
    )
    arbitrary_file_identifier: str | None = Field(default=None, max_length=64)


class RegistrationHeader(Spec):
    """The answer's header (OQSsiimm01res)."""

    ProcessExecutionTime: str
    MedicalInstitutionCode: str
    ArbitraryFileIdentifier: str | None = None
    SegmentOfResult: Literal["1", "2", "9"] = "1"
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    CharacterCodeIdentifier: Flag = "0"


class RegistrationOutcome(Spec):
    """What became of one entry: registered (status 1) or refused (2, with its code)."""

    QualificationConfirmSearchInfo: InsuredCardQuery
    ReferenceNumber: ReferenceNumberText
    ProcessingResultStatus: Literal["1", "2"]
    ProcessingResultCode: str | None = None
    ProcessingResultMessage: str | None = None
    ReplacedReferenceNumber: ReferenceNumberText | None = Field(
        default=None,
        description="the number this clinic had registered for the person before, now "
        "replaced; absent when there was none or it was the same",
    )


class ReferenceNumberAnswer(Spec):
    """The answer to a single registration; a refusal is a numbered error instead."""

    MessageHeader: RegistrationHeader
    MessageBody: RegistrationOutcome


class BatchRegistrationHeader(Spec):
    """The bulk answer's header (OQSmuimm01res): the single one's with a batch's counts."""

    ProcessExecutionTime: str
    MedicalInstitutionCode: str
    ArbitraryFileIdentifier: str | None = None
    SegmentOfResult: Literal["1", "2", "9"] = "1"
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    NumberOfProcessingResult: int
    NumberOfNormalProcessing: int
    NumberOfError: int
    CharacterCodeIdentifier: Flag = "0"


class ReferenceNumberBatchAnswer(Spec):
    """The answer to a bulk registration: one unit per entry, in the request's order."""

    MessageHeader: BatchRegistrationHeader
    BulkRegistrationUnit: list[RegistrationOutcome]
