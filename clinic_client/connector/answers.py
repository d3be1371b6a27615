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
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from clinic_client.connector.errors import CATALOGUE
from clinic_client.connector.requests import BatchRequest, RejectedEntry, RequestHeader
from clinic_client.connector.xmlcodec import WireEncoding, write_xml
from onshi_kernel.japan_time import japan_date, timestamp, yyyymmdd
from qualification_server.contract.schemas import (
    AnswerHeader,
    BatchAnswer,
    BatchHeader,
    EligibilityAnswer,
)

FILE_REFERENCE = "2"  # ReferenceClassification: every file request is by insured-card number
SEGMENT_NORMAL, SEGMENT_ERROR = "1", "9"
STATUS_ERROR = "2"


def eligibility_answer_file(answer: EligibilityAnswer, encoding: WireEncoding) -> bytes:
    """`OQSsiquc01res` (and the face result): the server's answer, in `encoding`."""
    tree = answer.model_dump(exclude_none=True)
    tree["MessageHeader"]["CharacterCodeIdentifier"] = encoding.value
    return write_xml(tree, encoding)


def batch_answer_file(
    request: BatchRequest,
    answer: BatchAnswer | None,
    *,
    clinic_code: str | None,
    now: dt.datetime,
) -> bytes:
    """`OQSmuquc01res`: one `BulkConfirmUnit` per entry of the request, in its order.

    `answer` holds the server's units for the entries that could be sent (None when none
    could); an entry the connector refused gets a unit with its `C…` code. The header counts
    every entry. The units sit in `MessageBody`, as in every answer file. `clinic_code` is
    the connector's own (`QualificationClient.clinic_code`), for a header the server did not
    make.
    """
    sent = request.queries
    server_units = list(answer.BulkConfirmUnit) if answer else []
    if len(server_units) != len(sent):
        raise ValueError(f"the server answered {len(server_units)} units for {len(sent)}")
    pending = iter(server_units)
    units: list[dict[str, Any]] = []
    for entry in request.entries:
        if isinstance(entry, RejectedEntry):
            units.append(
                {
                    "InsuredNumberQuery": dict(entry.echo),
                    "MessageBody": _error_body(
                        entry.code, CATALOGUE[entry.code].front_desk, entry.detail
                    ),
                }
            )
        else:
            units.append(next(pending).model_dump(exclude_none=True))
    errors = sum(1 for u in units if u["MessageBody"]["ProcessingResultStatus"] == STATUS_ERROR)
    header: dict[str, Any] = (
        answer.MessageHeader.model_dump(exclude_none=True)
        if answer
        else {
            "ProcessExecutionTime": timestamp(now),
            "QualificationConfirmationDate": _confirmation_date(request.header, now),
            "MedicalInstitutionCode": _clinic_code(clinic_code, request.header),
            "ReferenceClassification": FILE_REFERENCE,
            "SegmentOfResult": SEGMENT_NORMAL,
        }
    )
    header.update(
        # The client's batch call does not carry the identifier: echo the request's here.
        ArbitraryFileIdentifier=request.header.arbitrary_file_identifier,
        NumberOfProcessingResult=len(units),
        NumberOfNormalProcessing=len(units) - errors,
        NumberOfError=errors,
        CharacterCodeIdentifier=request.encoding.value,
    )
    tree = {
        "MessageHeader": _ordered(BatchHeader, header),
        "MessageBody": {"BulkConfirmUnit": units},
    }
    return write_xml(tree, request.encoding)


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
