"""Answer files (docs/answer.md, docs/file-interface.md): the server's answers and the
connector's refusals as `XmlMsg` trees in the request's encoding. Pure.

Elements come in the order of the server's models, absent ones omitted, values as plain text;
a list repeats its element (`SpecificDiseasesCertificateList` once per certificate, holding
the certificate's elements directly, as clinic software reads it). A refusal (the server's
`Q…` or the connector's `C…`) is `SegmentOfResult` 9 with `ErrorCode` and `ErrorMessage` in
the header and `ProcessingResultStatus` 2 in the body. Every header carries
`MedicalInstitutionCode`: the answers the connector makes itself take the clinic's code from
its credential, as the server's answers do.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from clinic_client.connector.errors import CATALOGUE, ConnectorCode
from clinic_client.connector.requests import (
    BatchFetchRequest,
    BatchRequest,
    BulkRegistrationRequest,
    RejectedEntry,
    RequestHeader,
)
from clinic_client.connector.xmlcodec import WireEncoding, write_xml
from onshi_kernel.japan_time import japan_date, timestamp, yyyymmdd
from qualification_server.contract.batch import (
    BatchReceipt,
    BatchResult,
    BatchResultHeader,
    ReceiptHeader,
)
from qualification_server.contract.lockouts import VisualPasscodeAnswer
from qualification_server.contract.reference_numbers import (
    BatchRegistrationHeader,
    ReferenceNumberAnswer,
    ReferenceNumberBatchAnswer,
)
from qualification_server.contract.schemas import AnswerHeader, EligibilityAnswer

FILE_REFERENCE = "2"  # ReferenceClassification: every file request is by insured-card number
SEGMENT_NORMAL, SEGMENT_ERROR = "1", "9"
STATUS_ERROR = "2"


def eligibility_answer_file(answer: EligibilityAnswer, encoding: WireEncoding) -> bytes:
    """`OQSsiquc01res` (and the face result): the server's answer, in `encoding`."""
    tree = answer.model_dump(exclude_none=True)
    tree["MessageHeader"]["CharacterCodeIdentifier"] = encoding.value
    return write_xml(tree, encoding)


@dataclass(frozen=True, slots=True)
class BatchLayout:
    """What the connector keeps of a batch between its two steps: for each entry of the
    request file, in order, None when it was sent to the server, or the connector's own
    refusal of it. Kept in the spool under the reception number (`Spool.keep_batch`)."""

    entries: tuple[RejectedEntry | None, ...]

    @classmethod
    def of(cls, request: BatchRequest) -> BatchLayout:
        return cls(tuple(e if isinstance(e, RejectedEntry) else None for e in request.entries))

    def to_json(self) -> bytes:
        return json.dumps(
            [
                None if e is None else {"code": e.code.value, "detail": e.detail, "echo": e.echo}
                for e in self.entries
            ],
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BatchLayout:
        return cls(
            tuple(
                None
                if e is None
                else RejectedEntry(
                    ConnectorCode(e["code"]),
                    e["detail"],
                    tuple((name, text) for name, text in e["echo"]),
                )
                for e in json.loads(data)
            )
        )


def batch_receipt_file(
    request: BatchRequest, receipt: BatchReceipt, *, clinic_code: str | None
) -> bytes:
    """`OQSmuquc01res`, the upload result: the `ReceptionNumber` to fetch the result with
    (`OQSmuquc02req`), in the header and the body. `NumberOfProcessingResult` counts every
    entry of the file, those the connector refused itself included (their units come with
    the result)."""
    header = receipt.MessageHeader.model_dump(exclude_none=True)
    header.update(
        MedicalInstitutionCode=clinic_code or header["MedicalInstitutionCode"],
        ArbitraryFileIdentifier=request.header.arbitrary_file_identifier,
        NumberOfProcessingResult=len(request.entries),
        CharacterCodeIdentifier=request.encoding.value,
    )
    tree = {
        "MessageHeader": _ordered(ReceiptHeader, header),
        "MessageBody": {"ReceptionNumber": receipt.MessageHeader.ReceptionNumber},
    }
    return write_xml(tree, request.encoding)


def batch_result_file(
    request: BatchFetchRequest,
    result: BatchResult,
    layout: BatchLayout | None,
    *,
    clinic_code: str | None,
) -> bytes:
    """`OQSmuquc02res`: 処理中 (`SegmentOfResult` 2, no unit) until the server is done; then
    one `BulkConfirmUnit` per entry of the batch file, in its order, each holding the query
    echoed and its answer directly. An entry the connector refused itself (kept in `layout`)
    gets its `C…` code in place. The header counts every entry."""
    server_units = [u.model_dump(exclude_none=True) for u in result.BulkConfirmUnit]
    done = result.MessageHeader.SegmentOfResult != "2"
    units: list[dict[str, Any]] = []
    if done:
        kept = layout.entries if layout is not None else (None,) * len(server_units)
        if sum(1 for e in kept if e is None) != len(server_units):
            raise ValueError(f"the server answered {len(server_units)} units for this batch")
        pending = iter(server_units)
        for entry in kept:
            units.append(next(pending) if entry is None else _refused_unit(entry))
    header = result.MessageHeader.model_dump(exclude_none=True)
    header.update(
        MedicalInstitutionCode=clinic_code or header["MedicalInstitutionCode"],
        ArbitraryFileIdentifier=(
            request.header.arbitrary_file_identifier or header.get("ArbitraryFileIdentifier")
        ),
        **_counts(units),
        CharacterCodeIdentifier=request.encoding.value,
    )
    tree = {
        "MessageHeader": _ordered(BatchResultHeader, header),
        "MessageBody": {"BulkConfirmUnit": units} if units else {},
    }
    return write_xml(tree, request.encoding)


def registration_answer_file(
    answer: ReferenceNumberAnswer, encoding: WireEncoding, *, clinic_code: str | None
) -> bytes:
    """`OQSsiimm01res`: the server's answer to a 照会番号登録, in `encoding`."""
    tree = answer.model_dump(exclude_none=True)
    header = tree["MessageHeader"]
    header["MedicalInstitutionCode"] = clinic_code or header["MedicalInstitutionCode"]
    header["CharacterCodeIdentifier"] = encoding.value
    return write_xml(tree, encoding)


def passcode_answer_file(
    answer: VisualPasscodeAnswer, encoding: WireEncoding, *, clinic_code: str | None
) -> bytes:
    """`OQSsipcd01res` (name chosen): the server's 目視確認用パスコード, in `encoding`."""
    tree = answer.model_dump(exclude_none=True)
    header = tree["MessageHeader"]
    header["MedicalInstitutionCode"] = clinic_code or header["MedicalInstitutionCode"]
    header["CharacterCodeIdentifier"] = encoding.value
    return write_xml(tree, encoding)


def bulk_registration_answer_file(
    request: BulkRegistrationRequest,
    answer: ReferenceNumberBatchAnswer,
    *,
    clinic_code: str | None,
) -> bytes:
    """`OQSmuimm01res`: one `BulkRegistrationUnit` per entry of the file, in its order, the
    server's for those it was sent, the connector's `C…` refusal for the others; the header
    counts every entry."""
    server_units = [u.model_dump(exclude_none=True) for u in answer.BulkRegistrationUnit]
    if len(server_units) != len(request.readable):
        raise ValueError(f"the server answered {len(server_units)} units")
    pending = iter(server_units)
    units = [
        _refused_registration(entry) if isinstance(entry, RejectedEntry) else next(pending)
        for entry in request.entries
    ]
    header = answer.MessageHeader.model_dump(exclude_none=True)
    header.update(
        MedicalInstitutionCode=clinic_code or header["MedicalInstitutionCode"],
        ArbitraryFileIdentifier=request.header.arbitrary_file_identifier,
        **_counts(units),
        CharacterCodeIdentifier=request.encoding.value,
    )
    tree = {
        "MessageHeader": _ordered(BatchRegistrationHeader, header),
        "MessageBody": {"BulkRegistrationUnit": units},
    }
    return write_xml(tree, request.encoding)


def _counts(units: list[dict[str, Any]]) -> dict[str, int]:
    """A batch header's counts of its units (an error unit has ProcessingResultStatus 2)."""
    errors = sum(1 for u in units if u["ProcessingResultStatus"] == STATUS_ERROR)
    return {
        "NumberOfProcessingResult": len(units),
        "NumberOfNormalProcessing": len(units) - errors,
        "NumberOfError": errors,
    }


def _refused_registration(entry: RejectedEntry) -> dict[str, Any]:
    echo = dict(entry.echo)
    number = echo.pop("ReferenceNumber", None)
    unit: dict[str, Any] = {"QualificationConfirmSearchInfo": echo}
    if number is not None:
        unit["ReferenceNumber"] = number
    return unit | _error_body(entry.code, CATALOGUE[entry.code].front_desk, entry.detail)


def _refused_unit(entry: RejectedEntry) -> dict[str, Any]:
    return {
        "QualificationConfirmSearchInfo": dict(entry.echo),
        **_error_body(entry.code, CATALOGUE[entry.code].front_desk, entry.detail),
        "QualificationValidity": "4",
    }


def error_answer_file(
    *,
    code: str,
    message: str,
    detail: str | None,
    header: RequestHeader | None,
    clinic_code: str | None,
    encoding: WireEncoding,
    now: dt.datetime,
) -> bytes:
    """A refused request: `SegmentOfResult` 9, the code and the front-desk text, the
    request's header echoed as far as it could be read. `MedicalInstitutionCode` is
    `clinic_code`, the connector's own, even when the request had none or could not be read
    (clinic software refuses a header without it)."""
    echo = header or RequestHeader()
    tree = {
        "MessageHeader": _ordered(
            AnswerHeader,
            {
                "ProcessExecutionTime": timestamp(now),
                "QualificationConfirmationDate": _confirmation_date(echo, now),
                "MedicalInstitutionCode": _clinic_code(clinic_code, echo),
                "ArbitraryFileIdentifier": echo.arbitrary_file_identifier,
                "ReferenceClassification": FILE_REFERENCE,
                "SegmentOfResult": SEGMENT_ERROR,
                "ErrorCode": code,
                "ErrorMessage": message,
                "CharacterCodeIdentifier": encoding.value,
            },
        ),
        "MessageBody": _error_body(code, message, detail),
    }
    return write_xml(tree, encoding)


def _error_body(code: str, message: str, detail: str | None) -> dict[str, str]:
    # The detail (which element, which position; never a value) helps whoever fixes the
    # receipt computer's output; the header keeps the plain front-desk text.
    return {
        "ProcessingResultStatus": STATUS_ERROR,
        "ProcessingResultCode": code,
        "ProcessingResultMessage": f"{message}（{detail}）" if detail else message,
    }


def _clinic_code(own: str | None, header: RequestHeader) -> str | None:
    """The connector's clinic, as in the server's answers (the credential's, not the
    request's); the request's only when the credential names none, whose every request the
    server refuses anyway."""
    return own or header.medical_institution_code


def _confirmation_date(header: RequestHeader, now: dt.datetime) -> str:
    return header.confirmation_date or yyyymmdd(japan_date(now))


def _ordered(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` in the model's element order, absent (None) ones left out."""
    unknown = set(values) - set(model.model_fields)
    if unknown:
        raise ValueError(f"not elements of {model.__name__}: {sorted(unknown)}")
    return {name: values[name] for name in model.model_fields if values.get(name) is not None}
