"""A route class for the hot path: a clinic's POST with one JSON body, its endpoint called as
`endpoint(deps, who, body)` without FastAPI's per-request machinery.

FastAPI's handler solves the dependency graph, wraps the call in its exit stacks and
telemetry, and only then calls the endpoint: measured in process, that is about 30 % of a
card check's CPU (BENCHMARKS.md). `ClinicJSONRoute` keeps everything FastAPI does at start-up
(the route, its matching, the API document from the endpoint's signature) and handles the
request itself, step for step as FastAPI would: the body read (a body over the limit the
same 413, a client gone mid-body the same 400) and decoded as JSON (a body that is not JSON
is the same `json_invalid` error, at once), the clinic from its bearer token
(`get_clinic`: a refusal before any complaint about the body's fields), then the body
validated against the endpoint's model, its errors located under `body` as FastAPI locates
them. The app's exception handlers answer every refusal, as for any route.

The endpoint must take exactly `deps: DepsDep, who: ClinicDep, body: <a pydantic model>`;
any other signature is refused when the route is made.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException  # FastAPI's is a subclass: catch them all

from qualification_server.api.dependencies import get_clinic, get_deps

_PARAMETERS = ("deps", "who", "body")
_MISSING = object()


def _json_content_type(value: str | None) -> bool:
    """FastAPI's test: application/json or application/*+json (strict: a body without a
    content type is not read as JSON)."""
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def _decoded_body(request: Request) -> Any:
    """The body as FastAPI hands it to validation: decoded JSON, the raw bytes when the
    content type is not JSON, `_MISSING` when empty."""
    try:
        raw = await request.body()
    except HTTPException:  # the body limit's 413, raised while the body streams in
        raise
    except Exception as exc:  # the client gone mid-body, say: FastAPI's own 400, as there
        raise HTTPException(400, "There was an error parsing the body") from exc
    if not raw:
        return _MISSING
    if not _json_content_type(request.headers.get("content-type")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from exc
    except ValueError as exc:  # not UTF-8 (or -16/-32): FastAPI's own 400
        raise HTTPException(400, "There was an error parsing the body") from exc


def _validated(model: type[BaseModel], body: Any) -> BaseModel:
    if body is _MISSING:  # an empty body; JSON null is validated like any other value
        error = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([error])
    try:
        return model.model_validate(body, from_attributes=True)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


class ClinicJSONRoute(APIRoute):
    """See the module: a clinic's JSON POST handled without FastAPI's dependency solving."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        names = tuple(inspect.signature(endpoint).parameters)
        if names != _PARAMETERS or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(
                f"{endpoint.__qualname__}: a ClinicJSONRoute endpoint is "
                f"`async def (deps, who, body)`, not {names}"
            )
        model = get_type_hints(endpoint)["body"]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{endpoint.__qualname__}: its body is not a pydantic model")
        self.body_model: type[BaseModel] = model
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint, model = self.endpoint, self.body_model

        async def handler(request: Request) -> Response:
            body = await _decoded_body(request)
            deps = await get_deps(request)
            who = await get_clinic(request)
            response: Response = await endpoint(deps, who, _validated(model, body))
            return response

        return handler
