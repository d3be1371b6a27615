"""The front-desk web app: a local page for the reception, Japanese first, English available.

It talks to the card reader (PC/SC) and to the qualification server; the page gets the
reader's state pushed (server-sent events), so an inserted or removed card shows without a
reload. Served on localhost only; every answer carries strict security headers.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clinic_client.api import QualificationClient, ServerError
from clinic_client.desk import (
    Failure,
    FailureKind,
    check_card,
    failure_of,
    pin_tries_left,
    register_card,
)
from clinic_client.reader import FrontDeskReader
from qualification_server.schemas import Consents, EligibilityAnswer, InsuredCardQuery

STATIC = Path(__file__).resolve().parent / "static"
MAX_BATCH_BYTES = 1 << 20
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
BATCH_COLUMNS = (
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "Birthdate",
)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["pin", "face", "visual"]
    pin: str | None = Field(default=None, pattern=r"^\d{4}$")
    consents: Consents = Consents()


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(pattern=r"^\d{4}$")


def failure_response(failure: Failure) -> JSONResponse:
    status = 503 if failure.kind is FailureKind.SERVER_UNREACHABLE else 409
    body = {"failure": {**asdict(failure), "kind": failure.kind.value}}
    return JSONResponse(body, status_code=status)


def create_clinic_app(
    *,
    reader: FrontDeskReader,
    client: QualificationClient,
    device: tuple[str, Ed25519PrivateKey] | None = None,
    on_check: Callable[[EligibilityAnswer], None] | None = None,
    poll_interval_s: float = 0.25,
) -> FastAPI:
    app = FastAPI(title="onshi front desk", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        found = await run_in_threadpool(reader.status)
        return {"state": found.state.value, "reader": found.reader, "insertion": found.insertion}

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            last: dict[str, Any] | None = None
            beat = 0
            while not await request.is_disconnected():
                now = await status()
                if now != last:
                    yield f"data: {json.dumps(now)}\n\n"
                    last = now
                    beat = 0
                elif (beat := beat + 1) % 40 == 0:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(poll_interval_s)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/card")
    async def card() -> Response:
        try:
            tries = await run_in_threadpool(pin_tries_left, reader)
        except Exception as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"tries_left": tries})

    @app.post("/api/check")
    async def check(body: CheckRequest) -> Response:
        try:
            answer, _certificate = await run_in_threadpool(
                lambda: check_card(
                    reader,
                    client,
                    mode=body.mode,
                    pin=body.pin,
                    consents=body.consents,
                    device=device,
                )
            )
        except Exception as exc:
            return failure_response(failure_of(exc))
        if on_check is not None:
            await run_in_threadpool(on_check, answer)
        return JSONResponse({"answer": answer.model_dump(exclude_none=True)})

    @app.post("/api/register")
    async def register(body: RegisterRequest) -> Response:
        try:
            result = await run_in_threadpool(lambda: register_card(reader, client, pin=body.pin))
        except Exception as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"registration": result.model_dump()})

    @app.post("/api/lookup")
    async def lookup(query: InsuredCardQuery) -> Response:
        try:
            answer = await run_in_threadpool(client.lookup, query)
        except (ServerError, ValueError) as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"answer": answer.model_dump(exclude_none=True)})

    @app.post("/api/batch")
    async def batch(file: Annotated[UploadFile, File()]) -> Response:
        raw = await file.read(MAX_BATCH_BYTES + 1)
        try:
            queries = parse_batch_csv(raw)
        except ValueError as exc:
            return failure_response(
                Failure(FailureKind.BAD_INPUT, f"CSVを読めません: {exc}", f"Unreadable CSV: {exc}")
            )
        try:
            answer = await run_in_threadpool(client.batch, queries)
        except ServerError as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"batch": answer.model_dump(exclude_none=True)})

    return app


def parse_batch_csv(raw: bytes) -> list[InsuredCardQuery]:
    """Tomorrow's appointments: a CSV (UTF-8 or Shift_JIS) with SPEC element names as
    columns. Raises ValueError naming the line and the problem."""
    if len(raw) > MAX_BATCH_BYTES:
        raise ValueError("the file is larger than 1 MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp932")
        except UnicodeDecodeError:
            raise ValueError("neither UTF-8 nor Shift_JIS") from None
    rows = csv.DictReader(io.StringIO(text))
    missing = [
        c for c in BATCH_COLUMNS if c not in (rows.fieldnames or []) and c != "InsuredCardSymbol"
    ]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    queries = []
    for line, row in enumerate(rows, start=2):
        values = {c: (row.get(c) or "").strip() for c in BATCH_COLUMNS}
        values["InsurerNumber"] = (row.get("InsurerNumber") or "").rstrip()
        try:
            queries.append(
                InsuredCardQuery(
                    InsurerNumber=values["InsurerNumber"],
                    InsuredCardSymbol=values["InsuredCardSymbol"] or None,
                    InsuredIdentificationNumber=values["InsuredIdentificationNumber"],
                    InsuredBranchNumber=values["InsuredBranchNumber"].zfill(2),
                    Birthdate=values["Birthdate"],
                )
            )
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise ValueError(f"line {line}: {field}: {exc.errors()[0]['msg']}") from None
    if not queries:
        raise ValueError("no rows")
    return queries
