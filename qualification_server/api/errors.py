"""The one place where errors become HTTP answers. No stack trace ever reaches a client."""

from __future__ import annotations

import logging
import uuid

import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from onshi_kernel import validation
from qualification_server.contract.schemas import ErrorBody, ErrorResponse
from qualification_server.errors import CATALOGUE, Code, QualificationError

log = logging.getLogger(__name__)
RETRY_AFTER_S = "2"


def _request_id(request: Request) -> str:
    """The client's X-Request-ID, or one made for this request: made once, so that the
    answer and the log line name the same id."""
    request_id: str | None = getattr(request.state, "request_id", None)
    if request_id is None:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
    return request_id


def error_response(
    code: Code, request: Request, detail: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    info = CATALOGUE[code]
    body = ErrorResponse(
        error=ErrorBody(
            code=code.value,
            message=info.front_desk,
            message_it=info.it,
            detail=detail,
            request_id=_request_id(request),
        )
    )
    return JSONResponse(body.model_dump(), status_code=info.http_status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QualificationError)
    async def _qualification(request: Request, exc: QualificationError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
        if exc.code is Code.REVOCATION_UNAVAILABLE:
            log.error("failing closed: %s", exc.detail)
        return error_response(exc.code, request, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the fields and what is wrong, never echo the input (it may be personal data).
        return error_response(Code.INVALID_REQUEST, request, validation.summary(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # FastAPI answers a body it cannot even decode (not UTF-8, say) with its own 400;
        # to a client that is one more request that does not match the schema.
        if exc.status_code == 400:
            return error_response(Code.INVALID_REQUEST, request, "body: not decodable as JSON")
        if exc.status_code == 413:
            return error_response(Code.REQUEST_TOO_LARGE, request)
        return await http_exception_handler(request, exc)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    # the card check's async connections raise psycopg's own (a pool timeout is one)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response(Code.UNAVAILABLE, request, headers={"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = _request_id(request)
        log.exception("unexpected error, request %s", request_id)
        return error_response(Code.INTERNAL, request, f"request {request_id}")


def too_large(request: Request) -> JSONResponse:
    """The answer to a body over `ONSHI_MAX_REQUEST_BYTES` (see `BodySizeLimit`)."""
    return error_response(Code.REQUEST_TOO_LARGE, request)
