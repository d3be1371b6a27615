"""Where the server's errors become HTTP answers, on the kernel's pattern
(`onshi_kernel.http_errors`): what is the server's own is here, a database that is not there
(Q9002 with `Retry-After`) and the log line of a check that failed closed (Q1006). Every
refusal is also logged for IT by the kernel (`log_refusal`), with the clinic of the request."""

from __future__ import annotations

import logging
import re

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from onshi_kernel.auth_header import MalformedAuthorization, bearer_token
from onshi_kernel.http_errors import ErrorAnswers
from qualification_server.contract.schemas import ErrorBody
from qualification_server.errors import CATALOGUE, Code, QualificationError

log = logging.getLogger(__name__)
RETRY_AFTER_S = 2
_CLINIC_CODE = re.compile(r"\d{10}")  # 医療機関コード: the part of a clinic token before its "."


def clinic_of(request: Request) -> str | None:
    """The clinic code the request's credential names (`<医療機関コード>.<secret>`), for the
    refusal's log line: the code only, never the secret, and only when it looks like one. It
    is the code the caller claimed: a Q5001 names the clinic whose token failed."""
    try:
        token = bearer_token(request.headers.getlist("authorization"))
    except MalformedAuthorization:
        return None
    code, _, _secret = token.partition(".")
    return code if _CLINIC_CODE.fullmatch(code) else None


ANSWERS = ErrorAnswers(
    CATALOGUE,
    invalid_request=Code.INVALID_REQUEST,
    too_large=Code.REQUEST_TOO_LARGE,
    internal=Code.INTERNAL,
    body=ErrorBody,
    caller=("clinic", clinic_of),
)
# The answer to a body over `ONSHI_MAX_REQUEST_BYTES` (see `BodySizeLimit`).
too_large = ANSWERS.refuse_too_large


def install_error_handlers(app: FastAPI) -> None:
    """Every error the server answers, each with its numbered code."""
    ANSWERS.install(app)

    @app.exception_handler(QualificationError)
    async def _qualification(request: Request, exc: QualificationError) -> JSONResponse:
        if exc.code is Code.REVOCATION_UNAVAILABLE:
            log.error("failing closed: %s", exc.detail)
        return ANSWERS.answer(request, exc.code, detail=exc.detail, retry_after_s=exc.retry_after_s)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    # the card check's async connections raise psycopg's own (a pool timeout is one)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        return ANSWERS.answer(request, Code.UNAVAILABLE, retry_after_s=RETRY_AFTER_S)
