"""Errors as HTTP answers, the same way in every onshi server: `error_response` makes every
error answer, and `ErrorAnswers.install` adds the handlers each server would otherwise
repeat (a request that breaks the schema, a body FastAPI cannot decode, a body too large, a
bug). No answer repeats a value the request sent, and no stack trace reaches a client.

Every error answer is also one log line for IT (`log_refusal`, logger `onshi_kernel.refusals`):
after a complaint, the request id the desk shows finds what was refused, where and to whom.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from onshi_kernel import validation
from onshi_kernel.errors import CodeT, ErrorBody, ErrorInfo

log = logging.getLogger(__name__)
refusals = logging.getLogger("onshi_kernel.refusals")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is taken as it is when it looks like one: printable ASCII without spaces, at
# most 200 characters (what the log line and the answer carry); otherwise the server makes one.
_CLIENT_REQUEST_ID = re.compile(r"[!-~]{1,200}")
UNDECODABLE_BODY = {"field": "body", "reason": "not decodable as JSON"}
LOGGED_FRAMES = 5  # of a bug's traceback, innermost first


def request_id(request: Request) -> str:
    """The request's id: the client's `X-Request-ID`, or one made for this request. Made
    once and kept on the request, so that the answer and the log line name the same id."""
    known: str | None = getattr(request.state, "request_id", None)
    if known is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        known = sent if _CLIENT_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        request.state.request_id = known
    return known


def error_response(
    request: Request,
    code: str,
    info: ErrorInfo,
    *,
    detail: str | None = None,
    retry_after_s: int | None = None,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    body: type[ErrorBody] = ErrorBody,
    caller: tuple[str, Callable[[Request], str | None]] | None = None,
) -> JSONResponse:
    """The answer for `code` and its catalogue entry: `{"error": {code, message, message_it,
    detail, request_id, …data}}` with the entry's status. `data` fills the fields `body` (a
    subclass of `ErrorBody`) adds and is checked against it; fields not given are left out.
    `retry_after_s` becomes `Retry-After`. A refusal (any status but 2xx) is logged by
    `log_refusal`, naming the caller `caller` finds (see `ErrorAnswers.caller`)."""
    if not 200 <= info.http_status < 300:  # a few codes are answers that say more, not refusals
        log_refusal(request, str(code), info.http_status, caller)
    error = body.model_validate(
        {
            "code": str(code),
            "message": info.front_desk,
            "message_it": info.it,
            "detail": detail,
            "request_id": request_id(request),
            **(data or {}),
        }
    )
    answer_headers = dict(headers or {})
    if retry_after_s is not None:
        answer_headers["Retry-After"] = str(retry_after_s)
    return JSONResponse(
        {"error": error.model_dump(mode="json", by_alias=True, exclude_unset=True)},
        status_code=info.http_status,
        headers=answer_headers or None,
    )


@dataclass(frozen=True, slots=True)
class ErrorAnswers(Generic[CodeT]):
    """How one server answers its errors: its catalogue, the codes of the refusals every
    server has, and its body. `list_problems`: a refused request also lists its problems in
    the body's `problems` field (`{"field", "reason"}` each), besides the one-line detail."""

    catalogue: Mapping[CodeT, ErrorInfo]
    invalid_request: CodeT
    too_large: CodeT
    internal: CodeT
    body: type[ErrorBody] = ErrorBody
    list_problems: bool = False
    too_large_detail: str | None = None
    # Who was refused, for the log line: its field name there ("clinic", "insurer") and how
    # to read it off the request (never a secret; None when the request does not say).
    caller: tuple[str, Callable[[Request], str | None]] | None = None

    def answer(
        self,
        request: Request,
        code: CodeT,
        *,
        detail: str | None = None,
        retry_after_s: int | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> JSONResponse:
        """`error_response` for one of this server's codes, in its body."""
        return error_response(
            request, code, self.catalogue[code], detail=detail, retry_after_s=retry_after_s,
            headers=headers, data=data, body=self.body, caller=self.caller,
        )  # fmt: skip

    def invalid(
        self, request: Request, problems: list[dict[str, str]], *, code: CodeT | None = None
    ) -> JSONResponse:
        """The answer to a request that breaks a rule (`invalid_request` unless `code` says
        otherwise): each problem as its field and reason, in one line in `detail` and, with
        `list_problems`, one by one in `problems`."""
        data = {"problems": problems} if self.list_problems else None
        return self.answer(
            request, code or self.invalid_request, detail=validation.one_line(problems), data=data
        )

    def refuse_too_large(self, request: Request) -> JSONResponse:
        """The answer to a body over the server's limit (`body_limit.BodySizeLimit`'s
        `refuse`, and the handler of the 413 it raises while a body streams in)."""
        return self.answer(request, self.too_large, detail=self.too_large_detail)

    def install(self, app: FastAPI) -> None:
        """Add the handlers every server has: a request that breaks the schema (its fields
        and reasons, never its values), a body FastAPI cannot decode (its own 400), a body
        over the limit (413), and any other exception (logged with the request id, answered
        with it and nothing else)."""

        async def schema_broken(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, RequestValidationError)
            return self.invalid(request, validation.problems(exc.errors()))

        async def framework_refusal(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            # FastAPI answers a body it cannot even decode (not UTF-8, say) with its own 400;
            # to a client that is one more request that does not match the schema.
            if exc.status_code == 400:
                return self.invalid(request, [UNDECODABLE_BODY])
            if exc.status_code == 413:
                return self.refuse_too_large(request)
            return await http_exception_handler(request, exc)

        async def unexpected(request: Request, exc: Exception) -> Response:
            ident = request_id(request)
            log_unexpected(request, exc, ident)
            return self.answer(request, self.internal, detail=f"request {ident}")

        app.add_exception_handler(RequestValidationError, schema_broken)
        app.add_exception_handler(HTTPException, framework_refusal)
        app.add_exception_handler(Exception, unexpected)


def log_unexpected(request: Request, exc: BaseException, ident: str) -> None:
    """Log a bug: its type and where it was raised, without its message (which may hold
    what the request sent), and the request id its answer names."""
    frames = traceback.extract_tb(exc.__traceback__)[-LOGGED_FRAMES:]
    where = " < ".join(f"{f.filename}:{f.lineno} {f.name}" for f in reversed(frames))
    log.error(
        "unexpected error (%s) on %s %s at %s, request %s",
        type(exc).__name__, request.method, request.url.path, where or "?", ident,
    )  # fmt: skip


def route_of(request: Request) -> str:
    """The request's method and route template (`/v1/batches/{batch_id}`), not its path: a
    path can carry what the client typed. `unmatched` when no route took it."""
    route = getattr(request.scope.get("route"), "path", None)
    return f"{request.method} {route or 'unmatched'}"


def log_refusal(
    request: Request,
    code: str,
    status: int,
    caller: tuple[str, Callable[[Request], str | None]] | None = None,
) -> None:
    """One line for IT per refused request: its code, status, request id, caller and route,
    as `key=value` words (`refused code=Q3001 status=404 request_id=… clinic=… route="POST
    /v1/eligibility/card"`). Never the detail, the body or the path: only what the server
    chose, never what the request sent (the request id aside, which is the client's own
    reference and kept to printable ASCII). A 5xx is an ERROR, any other a WARNING."""
    field, read = caller if caller is not None else ("caller", lambda _request: None)
    try:
        who = read(request)
    except Exception:  # the log line must never be what breaks an answer
        who = None
    refusals.log(
        logging.ERROR if status >= 500 else logging.WARNING,
        'refused code=%s status=%d request_id=%s %s=%s route="%s"',
        code, status, request_id(request), field, who or "-", route_of(request),
        extra={"refusal": {"code": code, "status": status, "request_id": request_id(request),
                           field: who, "route": route_of(request)}},
    )  # fmt: skip
