"""The one place where errors become HTTP answers.

Every error answer is `{"error": {"code": …, "message": …, …data}}` with a stable `code`.
Nothing echoes the request's values (FastAPI's default validation answer would repeat a
My Number back), and no stack trace leaves the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from insurer_registry import errors
from insurer_registry.importer.csv_source import ImportFileInvalid
from insurer_registry.importer.schemas import ImportReportPublic
from insurer_registry.importer.service import ImportRejected
from insurer_registry.members.domain import InvalidRecord
from onshi_kernel import validation
from onshi_kernel.mynumber import InvalidMyNumber
from onshi_kernel.numbers import InvalidInsurerNumber

log = logging.getLogger(__name__)

# (status, code) per error type; the most specific type listed wins.
STATUS_AND_CODE: dict[type[Exception], tuple[int, str]] = {
    errors.QualificationNotFound: (404, "qualification_not_found"),
    errors.InsurerNotFound: (404, "insurer_not_found"),
    errors.InsuredNumberNotFound: (404, "insured_number_not_found"),
    errors.InsurerExists: (409, "insurer_exists"),
    errors.QualificationExists: (409, "qualification_exists"),
    errors.InsuredNumberTaken: (409, "insured_number_belongs_to_another_person"),
    errors.OverlappingQualification: (409, "overlapping_qualification"),
    errors.AlreadyLost: (409, "already_lost"),
    errors.VersionConflict: (409, "version_conflict"),
    errors.IdempotencyKeyReused: (409, "idempotency_key_reused"),
    errors.IdempotencyKeyRequired: (400, "idempotency_key_required"),
    errors.AuthenticationFailed: (401, "invalid_credential"),
}


class Problem(BaseModel):
    """One thing wrong with a request: where, and why (never the value)."""

    field: str
    reason: str


class ErrorBody(BaseModel):
    """An error: a stable `code`, a message, and the data that error type carries."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable, e.g. `qualification_exists`, `invalid_request`")
    message: str
    problems: list[Problem] | None = Field(None, description="invalid_record, invalid_request")
    existing_qualification_id: int | None = Field(
        None, description="qualification_exists, insured_number_belongs_to_another_person, "
        "overlapping_qualification",
    )  # fmt: skip
    expected_version: int | None = Field(None, description="version_conflict")
    current_version: int | None = Field(None, description="version_conflict")
    qualification_id: int | None = Field(None, description="qualification_not_found")
    line: int | None = Field(None, description="invalid_file: where the file broke")
    report: ImportReportPublic | None = Field(None, description="import_rejected")


class ErrorResponse(BaseModel):
    """Every error answer of the registry."""

    error: ErrorBody


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error answers: each status with its description and body."""
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in descriptions.items()
    }


def error_body(code: str, message: str, **data: Any) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message, **data}}


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
    return {}


def registry_error_response(error: errors.RegistryError) -> JSONResponse:
    """The answer for a domain error."""
    for error_type in type(error).__mro__:
        if error_type in STATUS_AND_CODE:
            status, code = STATUS_AND_CODE[error_type]
            break
    else:
        status, code = 400, "registry_error"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        error_body(code, str(error), **_data(error)), status_code=status, headers=headers
    )


def invalid_record_response(error: InvalidRecord) -> JSONResponse:
    """The answer for a record that breaks the rules: every problem, no values."""
    problems = [{"field": p.field, "reason": p.reason} for p in error.problems]
    return JSONResponse(
        error_body("invalid_record", "the record breaks registry rules", problems=problems),
        status_code=422,
    )


def _validation_response(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        error_body(
            "invalid_request",
            "the request is malformed",
            problems=validation.problems(error.errors()),
        ),
        status_code=422,
    )


async def _http_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    # FastAPI answers a body it cannot even decode (not UTF-8, say) with its own 400; to a
    # client that is one more malformed request.
    if error.status_code == 400:
        return JSONResponse(
            error_body(
                "invalid_request",
                "the request is malformed",
                problems=[{"field": "body", "reason": "not decodable as JSON"}],
            ),
            status_code=422,
        )
    if error.status_code == 413:
        return too_large(request)
    return await http_exception_handler(request, error)


MAX_REQUEST_BYTES = 1 << 20  # a member's JSON is a few kB; CSV imports have their own limit


def too_large(_request: Request) -> JSONResponse:
    """The answer to a body over `MAX_REQUEST_BYTES` (see `body_limit.BodySizeLimit`)."""
    return JSONResponse(
        error_body("request_too_large", f"the body is larger than {MAX_REQUEST_BYTES} bytes"),
        status_code=413,
    )


def _registry_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.RegistryError)
    return registry_error_response(error)


def _invalid_record_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidRecord)
    return invalid_record_response(error)


def _caller_mistake_handler(_request: Request, error: Exception) -> JSONResponse:
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
    return JSONResponse(
        error_body(
            "invalid_request",
            "the request is malformed",
            problems=[{"field": field, "reason": str(error)}],
        ),
        status_code=422,
    )


def _import_rejected_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ImportRejected)
    report = ImportReportPublic.of(error.report).model_dump(mode="json", by_alias=True)
    return JSONResponse(error_body("import_rejected", str(error), report=report), status_code=422)


def _import_file_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ImportFileInvalid)
    return JSONResponse(error_body("invalid_file", str(error), line=error.line), status_code=422)


def _internal_handler(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled %s on %s %s", type(error).__name__, request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    """Route every error type to its answer."""
    app.add_exception_handler(RequestValidationError, _validation_response)
    app.add_exception_handler(HTTPException, _http_handler)
    app.add_exception_handler(ImportRejected, _import_rejected_handler)
    app.add_exception_handler(ImportFileInvalid, _import_file_handler)
    app.add_exception_handler(errors.RegistryError, _registry_handler)
    app.add_exception_handler(InvalidRecord, _invalid_record_handler)
    for mistake in (InvalidMyNumber, InvalidInsurerNumber, errors.CallerMistake):
        app.add_exception_handler(mistake, _caller_mistake_handler)
    app.add_exception_handler(Exception, _internal_handler)
