"""Where the registry's errors become HTTP answers, on the kernel's pattern
(`onshi_kernel.http_errors`).

Every error answer is `{"error": {"code", "message", "message_it", "detail", "request_id",
…data}}` with a numbered `R…` code (`error_codes`): the catalogue's Japanese text for the
insurer's operator, its English one for IT, what went wrong in `detail`, and the data that
error carries (below). Nothing echoes the request's values (FastAPI's default validation
answer would repeat a My Number back), and no stack trace leaves the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError

from insurer_registry import errors
from insurer_registry.error_codes import CATALOGUE, RegistryCode
from insurer_registry.importer.csv_source import ImportFileInvalid
from insurer_registry.importer.schemas import ImportReportPublic
from insurer_registry.importer.service import ImportRejected
from insurer_registry.members.domain import InvalidRecord
from onshi_kernel import errors as kernel_errors
from onshi_kernel.http_errors import ErrorAnswers
from onshi_kernel.mynumber import InvalidMyNumber
from onshi_kernel.numbers import InvalidInsurerNumber

R = RegistryCode
log = logging.getLogger(__name__)
RETRY_AFTER_S = 2


def caller_of(request: Request) -> str | None:
    """Who a refusal's log line names (`onshi_kernel.http_errors.log_refusal`): the insurer
    number of an insurer's credential, `network:<public id>` of the qualification server's;
    None before the credential was accepted (the credential itself is never logged)."""
    label: str | None = getattr(request.state, "caller_label", None)
    return label


class Problem(BaseModel):
    """One thing wrong with a request: where, and why (never the value)."""

    field: str
    reason: str


class ErrorBody(kernel_errors.ErrorBody):
    """The kernel's error body and the data the registry's errors carry, each only where
    its codes say."""

    code: str = Field(description="stable numbered code, e.g. R3002 (insurer_registry README)")
    problems: list[Problem] | None = Field(
        None, description=f"{R.INVALID_REQUEST}, {R.INVALID_RECORD}: every problem, no values"
    )
    existing_qualification_id: int | None = Field(
        None,
        description=f"{R.QUALIFICATION_EXISTS}, {R.INSURED_NUMBER_TAKEN}, "
        f"{R.OVERLAPPING_QUALIFICATION}",
    )
    expected_version: int | None = Field(None, description=str(R.VERSION_CONFLICT))
    current_version: int | None = Field(None, description=str(R.VERSION_CONFLICT))
    qualification_id: int | None = Field(None, description=str(R.QUALIFICATION_NOT_FOUND))
    line: int | None = Field(None, description=f"{R.INVALID_FILE}: where the file broke")
    report: ImportReportPublic | None = Field(None, description=str(R.IMPORT_REJECTED))


class ErrorResponse(kernel_errors.ErrorResponse):
    """Every error answer of the registry."""

    error: ErrorBody


MAX_REQUEST_BYTES = 1 << 20  # a member's JSON is a few kB; CSV imports have their own limit

ANSWERS = ErrorAnswers(
    CATALOGUE,
    invalid_request=R.INVALID_REQUEST,
    too_large=R.REQUEST_TOO_LARGE,
    internal=R.INTERNAL,
    body=ErrorBody,
    list_problems=True,
    too_large_detail=f"the body is larger than {MAX_REQUEST_BYTES} bytes",
    caller=("insurer", caller_of),
)
# The answer to a body over `MAX_REQUEST_BYTES` (see `body_limit.BodySizeLimit`).
too_large = ANSWERS.refuse_too_large


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error answers: each status with its description and body."""
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in descriptions.items()
    }


def _data(error: errors.RegistryError) -> dict[str, Any]:
    if isinstance(
        error,
        errors.QualificationExists | errors.InsuredNumberTaken | errors.OverlappingQualification,
    ):
        return {"existing_qualification_id": error.existing_id}
    if isinstance(error, errors.VersionConflict):
        return {"expected_version": error.expected, "current_version": error.actual}
    if isinstance(error, errors.QualificationNotFound):
        return {"qualification_id": error.qualification_id}
    if isinstance(error, ImportRejected):
        return {"report": ImportReportPublic.of(error.report)}
    return {}


def _registry_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.RegistryError)
    # RFC 7235 §3.1: a 401 names the scheme that would be accepted.
    headers = {"WWW-Authenticate": "Bearer"} if error.info.http_status == 401 else None
    return ANSWERS.answer(
        request, error.code, detail=error.detail, retry_after_s=error.retry_after_s,
        headers=headers, data=_data(error),
    )  # fmt: skip


def _invalid_record_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidRecord)
    problems = [{"field": p.field, "reason": p.reason} for p in error.problems]
    return ANSWERS.invalid(request, problems, code=R.INVALID_RECORD)


def _caller_mistake_handler(request: Request, error: Exception) -> JSONResponse:
    # Only the errors raised on purpose to say what is wrong without the value
    # (InvalidMyNumber, InvalidInsurerNumber, CallerMistake): any other ValueError's text
    # could echo input, and is an internal error.
    field = (
        "MyNumber"
        if isinstance(error, InvalidMyNumber)
        else "InsurerNumber"
        if isinstance(error, InvalidInsurerNumber)
        else "body"
    )
    return ANSWERS.invalid(request, [{"field": field, "reason": str(error)}])


def _import_file_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ImportFileInvalid)
    data = {"line": error.line} if error.line is not None else None
    return ANSWERS.answer(request, R.INVALID_FILE, detail=str(error), data=data)


def _database_handler(request: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(error).__name__)
    return ANSWERS.answer(request, R.UNAVAILABLE, retry_after_s=RETRY_AFTER_S)


def install(app: FastAPI) -> None:
    """Route every error type to its answer."""
    ANSWERS.install(app)
    app.add_exception_handler(errors.RegistryError, _registry_handler)
    app.add_exception_handler(ImportFileInvalid, _import_file_handler)
    app.add_exception_handler(InvalidRecord, _invalid_record_handler)
    # A database that does not answer is not a bug: R9002 with Retry-After, not R9001.
    app.add_exception_handler(OperationalError, _database_handler)
    app.add_exception_handler(DBAPIError, _database_handler)
    for mistake in (InvalidMyNumber, InvalidInsurerNumber, errors.CallerMistake):
        app.add_exception_handler(mistake, _caller_mistake_handler)
