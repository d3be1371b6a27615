"""The FHIR routes' answers: `application/fhir+json`, and every refusal as an OperationOutcome.

A refusal on a FHIR route is still answered by the app's own exception handler (the one
`api/errors.py` registered for it: the same code, status, headers and log line for IT as on
the JSON routes); `FHIRRoute` only rewrites the body that handler made, `{"error": {…}}`,
into an OperationOutcome (`answers.fhir.operation_outcome`). A request that breaks the
schema (422, Q6001) is one of these: FastAPI raises it inside the route's handler."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from qualification_server.answers.fhir import FHIR_JSON, operation_outcome

# the answer's headers that the rewritten body must not inherit
_BODY_HEADERS = {"content-length", "content-type"}


class FHIRJSONResponse(JSONResponse):
    """A FHIR resource as JSON, with FHIR's own media type."""

    media_type = FHIR_JSON


def _registered_handler(request: Request, exc: Exception) -> Callable[..., Any] | None:
    """The handler the app registered for `exc`, looked up as Starlette does: an HTTP
    exception's status first, then the exception's classes from the most specific."""
    handlers: dict[Any, Callable[..., Any]] = request.app.exception_handlers
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def as_operation_outcome(answer: Response) -> Response:
    """The app's error answer with its body as an OperationOutcome: status and headers kept
    (`Retry-After`, say). An answer that is not the server's error body is left as it is."""
    try:
        error = json.loads(bytes(answer.body))["error"]
        resource = operation_outcome(
            code=error["code"],
            message=error["message"],
            message_it=error.get("message_it"),
            detail=error.get("detail"),
            request_id=error["request_id"],
        )
    except (ValueError, KeyError, TypeError):
        return answer
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in _BODY_HEADERS}
    return FHIRJSONResponse(resource, status_code=answer.status_code, headers=headers)


class FHIRRoute(APIRoute):
    """A route answered in FHIR: its success as `application/fhir+json`, its refusals as
    OperationOutcome (`route_class` of the FHIR router)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fhir_handler(request: Request) -> Response:
            try:
                answer = await handler(request)
            except Exception as exc:
                registered = _registered_handler(request, exc)
                if registered is None:
                    raise
                if inspect.iscoroutinefunction(registered):
                    refusal = await registered(request, exc)
                else:
                    refusal = await run_in_threadpool(registered, request, exc)
                return as_operation_outcome(refusal)
            if answer.headers.get("content-type", "").startswith("application/json"):
                answer.headers["content-type"] = FHIR_JSON
            return answer

        return fhir_handler
