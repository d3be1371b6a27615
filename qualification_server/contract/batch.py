"""一括照会 in two steps, as the real interface has it (docs/file-interface.md, OQS-IF-005..008):
the clinic submits its entries and gets a `ReceptionNumber` at once (the upload result); the
server looks them up in the background; the clinic fetches the result with the number, and
is answered 処理中 (`SegmentOfResult` 2) until the batch is done.

Element names are the real interface's; the HTTP routes around them are this project's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from qualification_server.contract.schemas import (
    Flag,
    InsuredCardQuery,
    QualificationResult,
    Spec,
    Strict,
    Validity,
    Yyyymmdd,
)

RECEPTION_NUMBER_DIGITS = 16  # chosen: the real number's form is not public (docs/domain.md)
ReceptionNumber = Annotated[
    str,
    Field(
        pattern=f"^[0-9]{{{RECEPTION_NUMBER_DIGITS}}}$",
        description=f"the batch's 受付番号: {RECEPTION_NUMBER_DIGITS} digits",
    ),
]


class BatchSubmission(Strict):
    """一括照会 (OQSmuquc01req): the people to look up, e.g. tomorrow's appointments."""

    entries: list[InsuredCardQuery] = Field(
        min_length=1,
        description="at most the server's configured number of entries (2,000 unless set "
        "otherwise; more is refused with Q4003)",
    )
    qualification_confirmation_date: Yyyymmdd | None = None
    arbitrary_file_identifier: str | None = Field(default=None, max_length=64)


class ReceiptHeader(Spec):
    """The upload result's header (OQSmuquc01res)."""

    ProcessExecutionTime: str
    QualificationConfirmationDate: str
    MedicalInstitutionCode: str
    ArbitraryFileIdentifier: str | None = None
    ReceptionNumber: ReceptionNumber
    SegmentOfResult: Literal["1"] = "1"
    NumberOfProcessingResult: int = Field(description="the entries received")
    CharacterCodeIdentifier: Flag = "0"


class BatchReceipt(Spec):
    """The answer to a submission: the reception number to fetch the result with."""

    MessageHeader: ReceiptHeader


class BulkUnit(Spec):
    """One `BulkConfirmUnit` of the result, one person: the query echoed and its answer."""

    QualificationConfirmSearchInfo: InsuredCardQuery
    ProcessingResultStatus: Literal["1", "2"]
    ProcessingResultCode: str | None = None
    ProcessingResultMessage: str | None = None
    QualificationValidity: Validity
    ResultOfQualificationConfirmation: list[QualificationResult] | None = None
    ReferenceNumber: str | None = None


class BatchResultHeader(Spec):
    """The result's header (OQSmuquc02res). Until the batch is done `SegmentOfResult` is 2
    (処理中) and the counts are 0."""

    ProcessExecutionTime: str
    QualificationConfirmationDate: str
    MedicalInstitutionCode: str
    ArbitraryFileIdentifier: str | None = None
    ReceptionNumber: ReceptionNumber
    SegmentOfResult: Literal["1", "2"]
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    NumberOfProcessingResult: int
    NumberOfNormalProcessing: int
    NumberOfError: int
    CharacterCodeIdentifier: Flag = "0"


class BatchResult(Spec):
    """The result of a batch: one `BulkConfirmUnit` per entry, in the submission's order."""

    MessageHeader: BatchResultHeader
    BulkConfirmUnit: list[BulkUnit] = Field(default_factory=list)
