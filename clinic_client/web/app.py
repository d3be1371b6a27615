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
from fastapi import Path as PathPart
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from clinic_client.api import QualificationClient, ServerError
from clinic_client.desk import (
    Failure,
    FailureKind,
    card_on_reader,
    check_card,
    failure_of,
    register_card,
)
from clinic_client.reader import FrontDeskReader, ReaderState
from onshi_kernel import validation
from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.encoding import EncodingUnclear, detect_encoding
from qualification_server.contract.batch import BatchReceipt, BatchResult, ReceptionNumber
from qualification_server.contract.presence import PASSCODE_PATTERN
from qualification_server.contract.schemas import (
    Consents,
    EligibilityAnswer,
    InsuredCardQuery,
    RegistrationResult,
)

STATIC = Path(__file__).resolve().parent / "static"
MAX_BATCH_BYTES = 1 << 20
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
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


Pin = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="the card's 4-digit PIN")]


class PinCheck(BaseModel):
    """A check the card proves with its PIN: the PIN is needed."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["pin"]
    pin: Pin
    consents: Consents = Consents()


class DeviceCheck(BaseModel):
    """A check this terminal's face or visual reader proves: a PIN sent is not used. A
    visual check carries the 目視確認用パスコード the page got (`/api/visual-passcode`) and
    showed; without one the desk gets one itself."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["face", "visual"]
    pin: Pin | None = None
    passcode: str | None = Field(
        None, pattern=PASSCODE_PATTERN, description="visual checks: the 目視確認用パスコード"
    )
    consents: Consents = Consents()


CheckRequest = Annotated[PinCheck | DeviceCheck, Field(discriminator="mode")]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: Pin


# What the page receives, as documented in the app's OpenAPI document (the routes build
# their answers themselves; these models describe them).


class ReaderStatusBody(BaseModel):
    state: ReaderState
    reader: str | None
    insertion: int = Field(description="counts insertions: a new card, a new number")


class FailureBody(BaseModel):
    kind: FailureKind
    message_ja: str
    message_en: str
    code: str | None = Field(None, description="the server's numbered error, when it refused")
    tries_left: int | None = None


class FailureAnswer(BaseModel):
    failure: FailureBody


class CardAnswer(BaseModel):
    tries_left: int = Field(description="0 for a blocked PIN and for a face card (no PIN)")
    credential: Literal["card", "smartphone"] = Field(
        description="a smartphone (スマホ用電子証明書) is checked with its PIN only"
    )


class CheckAnswer(BaseModel):
    answer: EligibilityAnswer


class PasscodeAnswer(BaseModel):
    passcode: str = Field(description="the 目視確認用パスコード, for one visual check")
    expires_at: str = Field(description="YYYYMMDDHHmmss, Japan time")


class RegistrationAnswer(BaseModel):
    registration: RegistrationResult


class BatchReceiptAnswer(BaseModel):
    receipt: BatchReceipt


class BatchCheckAnswer(BaseModel):
    batch: BatchResult


FAILURES: dict[int | str, dict[str, Any]] = {
    409: {"model": FailureAnswer, "description": "the check failed: what happened, what to do"},
    503: {"model": FailureAnswer, "description": "the qualification server is unreachable"},
}
FOREIGN: dict[int | str, dict[str, Any]] = {
    403: {
        "model": FailureAnswer,
        "description": "not from the desk's own page (another site, or another host name)",
    },
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": FailureAnswer,
        "description": "`bad-input`: the request does not match (fields named, values never "
        "echoed: one may be the PIN)",
    },
}
ACTIONS = FAILURES | FOREIGN | INVALID  # the answers of a request with a body


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


# Each event of /api/events: the reader's status as /api/status answers it, as JSON.
STATUS_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"const": "message"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/ReaderStatusBody"},
        },
    },
}


def failure_response(failure: Failure, status: int | None = None) -> JSONResponse:
    if status is None:
        status = 503 if failure.kind is FailureKind.SERVER_UNREACHABLE else 409
    body = {"failure": {**asdict(failure), "kind": failure.kind.value}}
    return JSONResponse(body, status_code=status)


MAX_REQUEST_BYTES = 1 << 20


def too_large(_request: Request) -> JSONResponse:
    """413 with a `bad-input` failure: the body is over `MAX_REQUEST_BYTES`."""
    failure = Failure(
        FailureKind.BAD_INPUT,
        "入力内容が大きすぎます。",
        f"the request body is larger than {MAX_REQUEST_BYTES} bytes",
    )
    return failure_response(failure, 413)


def bad_input(detail_en: str) -> JSONResponse:
    """422 with a `bad-input` failure the page shows as it shows the others."""
    failure = Failure(FailureKind.BAD_INPUT, "入力内容を確認してください。", detail_en)
    return failure_response(failure, 422)


def foreign_request(request: Request, allowed_hosts: frozenset[str]) -> str | None:
    """Why a request does not come from the desk's own page, or None if it may.

    The app has no login: being on this machine's loopback is the credential. Two ways
    around that go through the receptionist's browser, and are refused: another website
    calling the API (it could not read the answers, but could start checks, or spend the
    card's PIN tries with wrong PINs until it blocks), and DNS rebinding (another site's
    name pointed at 127.0.0.1, which would make the API its own origin). Programs on this
    machine send neither browser header and are let through.
    """
    # The address the request came in on: the desk reached by its own address is itself.
    bound = (request.scope.get("server") or (None,))[0]
    if request.url.hostname not in allowed_hosts and request.url.hostname != bound:
        return f"host {request.url.hostname!r} is not this desk's"
    if not request.url.path.startswith("/api/"):
        return None  # the page itself may be opened from a link or a bookmark
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request"
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return "a request from another origin"
    return None


def create_clinic_app(
    *,
    reader: FrontDeskReader,
    client: QualificationClient,
    device: tuple[str, Ed25519PrivateKey] | None = None,
    on_check: Callable[[EligibilityAnswer], None] | None = None,
    poll_interval_s: float = 0.25,
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS,
) -> FastAPI:
    """The app over `reader` and `client`. `allowed_hosts` are the names the page may be
    reached by (the Host header), besides the address a request comes in on."""
    app = FastAPI(title="onshi front desk", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refused = foreign_request(request, allowed_hosts)
        if refused is None:
            response = await call_next(request)
        else:
            response = failure_response(
                Failure(
                    FailureKind.REFUSED,
                    "この端末の画面以外からの操作は受け付けません。",
                    f"Only the front desk's own page may use it: {refused}.",
                ),
                403,
            )
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own answer would echo the values, the PIN among them.
        return bad_input(validation.summary(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # A body FastAPI cannot even decode or split (bad UTF-8, a broken multipart) is its
        # own 400; to the page it is one more request that does not match.
        if exc.status_code == 400:
            return bad_input("the request body could not be read")
        if exc.status_code == 413:
            return too_large(request)
        return await http_exception_handler(request, exc)

    # A PIN, a consent or a list of appointments is small: refuse more before reading it.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BYTES, refuse=too_large)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/status", response_model=ReaderStatusBody, responses=FOREIGN)
    async def status() -> dict[str, Any]:
        found = await run_in_threadpool(reader.status)
        return {"state": found.state.value, "reader": found.reader, "insertion": found.insertion}

    @app.get(
        "/api/events",
        response_class=EventStream,
        responses={
            200: {
                "description": "the reader's status (as /api/status) at each change",
                "content": {"text/event-stream": {"schema": STATUS_EVENT}},
            },
            **FOREIGN,
        },
    )
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

        return EventStream(stream())

    @app.get("/api/card", response_model=CardAnswer, responses=FAILURES | FOREIGN)
    async def card() -> Response:
        try:
            found = await run_in_threadpool(card_on_reader, reader)
        except Exception as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"tries_left": found.tries_left, "credential": found.credential})

    @app.post("/api/check", response_model=CheckAnswer, responses=ACTIONS)
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
                    passcode=body.passcode if isinstance(body, DeviceCheck) else None,
                )
            )
        except Exception as exc:
            return failure_response(failure_of(exc))
        if on_check is not None:
            await run_in_threadpool(on_check, answer)
        return JSONResponse({"answer": answer.model_dump(exclude_none=True)})

    @app.post("/api/visual-passcode", response_model=PasscodeAnswer, responses=FAILURES | FOREIGN)
    async def visual_passcode() -> Response:
        """目視確認用パスコード from the server, for the page to show before a visual check."""
        try:
            issued = await run_in_threadpool(client.visual_passcode)
        except ServerError as exc:
            return failure_response(failure_of(exc))
        body = issued.MessageBody
        return JSONResponse(
            {
                "passcode": body.VisualConfirmationPasscode,
                "expires_at": body.VisualConfirmationPasscodeExpirationTime,
            }
        )

    @app.post("/api/register", response_model=RegistrationAnswer, responses=ACTIONS)
    async def register(body: RegisterRequest) -> Response:
        try:
            result = await run_in_threadpool(lambda: register_card(reader, client, pin=body.pin))
        except Exception as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"registration": result.model_dump()})

    @app.post("/api/lookup", response_model=CheckAnswer, responses=ACTIONS)
    async def lookup(query: InsuredCardQuery) -> Response:
        try:
            answer = await run_in_threadpool(client.lookup, query)
        except (ServerError, ValueError) as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"answer": answer.model_dump(exclude_none=True)})

    @app.post("/api/batch", status_code=202, response_model=BatchReceiptAnswer, responses=ACTIONS)
    async def batch(file: Annotated[UploadFile, File()]) -> Response:
        raw = await file.read(MAX_BATCH_BYTES + 1)
        try:
            queries = parse_batch_csv(raw)
        except ValueError as exc:
            return failure_response(
                Failure(FailureKind.BAD_INPUT, f"CSVを読めません: {exc}", f"Unreadable CSV: {exc}")
            )
        try:
            receipt = await run_in_threadpool(client.submit_batch, queries)
        except ServerError as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"receipt": receipt.model_dump(exclude_none=True)}, status_code=202)

    @app.get("/api/batch/{reception_number}", response_model=BatchCheckAnswer, responses=FAILURES)
    async def batch_result(reception_number: Annotated[ReceptionNumber, PathPart()]) -> Response:
        """The batch's result; `SegmentOfResult` 2 while the server is still at it."""
        try:
            result = await run_in_threadpool(client.fetch_batch, reception_number)
        except ServerError as exc:
            return failure_response(failure_of(exc))
        return JSONResponse({"batch": result.model_dump(exclude_none=True)})

    return app


def parse_batch_csv(raw: bytes) -> list[InsuredCardQuery]:
    """Tomorrow's appointments: a CSV (UTF-8 or Shift_JIS) with the answer's element names
    (docs/answer.md) as columns. Raises ValueError naming the line and the problem."""
    if len(raw) > MAX_BATCH_BYTES:
        raise ValueError("the file is larger than 1 MiB")
    try:
        # The registry's import reads member files the same way: a file that mixes UTF-8
        # and Shift_JIS is refused at its first line at fault, not read garbled.
        encoding = detect_encoding(io.BytesIO(raw))
    except EncodingUnclear as unclear:
        raise ValueError(str(unclear)) from None
    text = raw.decode(encoding)
    try:
        # newline="" as the csv module wants: a bare CR inside a file is then its business
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        table = list(reader)
    except csv.Error as exc:  # its messages name the problem, never the values
        raise ValueError(f"not a CSV file: {exc}") from None
    optional = ("InsuredCardSymbol", "InsuredBranchNumber")
    missing = [c for c in BATCH_COLUMNS if c not in header and c not in optional]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    queries = []
    for line, row in enumerate(table, start=2):
        values = {c: (row.get(c) or "").strip() for c in BATCH_COLUMNS}
        values["InsurerNumber"] = (row.get("InsurerNumber") or "").rstrip()
        try:
            queries.append(
                InsuredCardQuery(
                    InsurerNumber=values["InsurerNumber"],
                    InsuredCardSymbol=values["InsuredCardSymbol"] or None,
                    InsuredIdentificationNumber=values["InsuredIdentificationNumber"],
                    InsuredBranchNumber=(values["InsuredBranchNumber"] or None)
                    and values["InsuredBranchNumber"].zfill(2),
                    Birthdate=values["Birthdate"],
                )
            )
        except ValidationError as exc:
            field = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise ValueError(f"line {line}: {field}: {exc.errors()[0]['msg']}") from None
    if not queries:
        raise ValueError("no rows")
    return queries
