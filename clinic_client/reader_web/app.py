"""The patient-facing reader page (顔認証付きカードリーダーの画面), served by its own process
(`clinic reader-serve`) so that a PIN is typed, and stays, here: it goes to the card and
nowhere else (not to the reception page, its server, a check-in record or a log).

The patient places the card, chooses 顔認証 or 暗証番号 (what the card allows: a face card
has no PIN, a smartphone shows its certificate only after its PIN, a blocked PIN is never
offered, face needs this terminal's device key), types the PIN on the page's keypad, answers
the consent screens, and the check runs against the qualification server. The page shows no
personal details: 受付完了, or what to do. Each finished check is posted to the reception
terminal as a `clinic_client.checkins.CheckIn`, and each refused one is logged for IT (kind,
code, clinic; no personal data). Served on localhost only, with strict security headers.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from clinic_client.api import QualificationClient
from clinic_client.checkins import CheckIn, CheckInConsents, CheckInFailure, Credential
from clinic_client.desk import (
    Failure,
    FailureKind,
    card_placed,
    check_card,
    failure_of,
    verify_pin,
)
from clinic_client.local_page import LOOPBACK_HOSTS, guard_page
from clinic_client.reader import FrontDeskReader, ReaderState
from onshi_kernel import validation
from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.japan_time import japan_now
from qualification_server.contract.schemas import Consents, EligibilityAnswer

log = logging.getLogger("clinic_client.reader_web")
STATIC = Path(__file__).resolve().parent / "static"
MAX_REQUEST_BYTES = 1 << 14  # a PIN and four answers
# Failures of the card itself: with no card on the reader afterwards, the card was removed.
_CARD_GONE = frozenset({FailureKind.CARD_REMOVED, FailureKind.NO_CARD, FailureKind.CARD_ERROR})
CARD_REMOVED = Failure(
    FailureKind.CARD_REMOVED,
    "カードが取り外されました。カードをもう一度置いて、最初からやり直してください。",
    "The card was removed. Put it back and start again.",
)
PRESCRIPTION_SELECT = {"electronic": "1", "paper": "2"}  # AnswerBody.PrescriptionIssueSelect

Pin = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="the card's 4-digit PIN")]


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: Pin


class PinCheck(BaseModel):
    """The patient's choices for a PIN check: the PIN (needed), the consent answers."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["pin"]
    pin: Pin
    consents: CheckInConsents


class FaceCheck(BaseModel):
    """The patient's choices for a face check: the consent answers (no PIN)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["face"]
    consents: CheckInConsents


CheckBody = Annotated[PinCheck | FaceCheck, Field(discriminator="mode")]


# What the page receives, as the app's OpenAPI document describes it (the routes build their
# answers themselves; these models document them, for tests/schemathesis/test_reader_web.py).
class FailureBody(BaseModel):
    kind: FailureKind
    message_ja: str
    message_en: str
    code: str | None = Field(None, description="the server's numbered error, when it refused")
    tries_left: int | None = None


class FailureAnswer(BaseModel):
    failure: FailureBody


class ReadyAnswer(BaseModel):
    status: Literal["ready", "not ready"]
    reader: ReaderState
    server: Literal["reachable", "unreachable"]
    face: Literal["available", "no device key"]


FOREIGN: dict[int | str, dict[str, Any]] = {
    403: {"model": FailureAnswer, "description": "not from the reader's own page"},
}
FAILED: dict[int | str, dict[str, Any]] = {
    409: {"model": FailureAnswer, "description": "the card or the check failed: what to do"},
}
INVALID: dict[int | str, dict[str, Any]] = {
    413: {"model": FailureAnswer, "description": "`bad-input`: the body is too large"},
    422: {
        "model": FailureAnswer,
        "description": "`bad-input`: the request does not match (fields named, the PIN never "
        "echoed)",
    },
}


def failure_response(failure: Failure, status: int = 409) -> JSONResponse:
    body = {
        "kind": failure.kind.value,
        "message_ja": failure.message_ja,
        "message_en": failure.message_en,
        "code": failure.code,
        "tries_left": failure.tries_left,
    }
    return JSONResponse({"failure": body}, status_code=status)


def bad_input(detail_en: str, status: int = 422) -> JSONResponse:
    return failure_response(
        Failure(FailureKind.BAD_INPUT, "入力内容を確認してください。", detail_en), status
    )


class Reception:
    """Where finished checks go: the reception terminal's `/api/check-ins`."""

    def __init__(self, url: str | None, key: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/") if url else None
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout_s = timeout_s

    def post(self, record: CheckIn) -> bool:
        """Post `record`; False (and logged) when the reception did not take it."""
        if self.url is None:
            return True
        try:
            response = httpx.post(
                f"{self.url}/api/check-ins",
                content=record.model_dump_json(),
                headers={**self._headers, "Content-Type": "application/json"},
                timeout=self._timeout_s,
            )
        except httpx.HTTPError as exc:
            log.warning(
                "check-in %s not posted: reception unreachable (%s)", record.id, type(exc).__name__
            )
            return False
        if response.status_code >= 300:
            log.warning(
                "check-in %s refused by the reception: HTTP %s", record.id, response.status_code
            )
            return False
        return True


def create_reader_app(
    *,
    reader: FrontDeskReader,
    client: QualificationClient,
    server_url: str,
    device: tuple[str, Ed25519PrivateKey] | None = None,
    reception_url: str | None = None,
    reception_key: str = "",
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS,
) -> FastAPI:
    """The reader page over `reader` and `client`; checks are posted to `reception_url`.
    Without `device` (no ONSHI_CLINIC_DEVICE_KEY_FILE) face checks are not offered."""
    app = FastAPI(title="onshi card reader", docs_url=None, redoc_url=None, openapi_url=None)
    reception = Reception(reception_url, reception_key)
    clinic = client.clinic_code

    def foreign(why: str) -> Response:
        return failure_response(
            Failure(
                FailureKind.REFUSED,
                "この端末の画面以外からの操作は受け付けません。",
                f"Only the reader's own page may use it: {why}.",
            ),
            403,
        )

    guard_page(app, foreign, allowed_hosts=allowed_hosts, whose="this reader's")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        return bad_input(validation.summary(exc.errors()))  # never echoes a value (the PIN)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400:  # a body that is not JSON: refused as the others are
            return bad_input("the request body could not be read")
        return await http_exception_handler(request, exc)

    def too_large(_request: Request) -> JSONResponse:
        return bad_input(f"the request body is larger than {MAX_REQUEST_BYTES} bytes", 413)

    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BYTES, refuse=too_large)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", responses=FOREIGN)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=ReadyAnswer,
        responses={503: {"model": ReadyAnswer, "description": "not ready"}, **FOREIGN},
    )
    async def readyz() -> Response:
        """Ready when a reader is connected and the qualification server answers."""
        found = await run_in_threadpool(reader.status)
        reader_ok = found.state in (ReaderState.EMPTY, ReaderState.CARD)
        try:
            async with httpx.AsyncClient(timeout=3.0) as http:
                server_ok = (await http.get(f"{server_url.rstrip('/')}/healthz")).status_code == 200
        except httpx.HTTPError:
            server_ok = False
        body = {
            "status": "ready" if reader_ok and server_ok else "not ready",
            "reader": found.state.value,
            "server": "reachable" if server_ok else "unreachable",
            "face": "available" if device is not None else "no device key",
        }
        return JSONResponse(body, status_code=200 if reader_ok and server_ok else 503)

    @app.get("/api/status", responses=FOREIGN)
    async def status() -> dict[str, Any]:
        found = await run_in_threadpool(reader.status)
        return {"state": found.state.value, "insertion": found.insertion}

    @app.get("/api/card", responses=FAILED | FOREIGN)
    async def card() -> Response:
        """What the card on the reader may be checked with."""
        try:
            placed = await run_in_threadpool(card_placed, reader)
        except Exception as exc:
            return failure_response(await card_failure(failure_of(exc)))
        return JSONResponse(
            {
                "credential": placed.credential,
                "tries_left": placed.tries_left,
                "pin": placed.pin_offered,
                "face": placed.face_offered and device is not None,
                "face_unavailable": placed.face_offered and device is None,
            }
        )

    @app.post("/api/pin", responses=FAILED | FOREIGN | INVALID)
    async def pin(body: PinBody) -> Response:
        """The keypad's 確定: the PIN is verified on the card at once."""
        try:
            await run_in_threadpool(verify_pin, reader, body.pin)
        except Exception as exc:
            failure = await card_failure(failure_of(exc))
            log.info("PIN not accepted at the reader: %s (clinic %s)", failure.kind.value, clinic)
            return failure_response(failure)
        return JSONResponse({"ok": True})

    @app.post("/api/check", responses=FAILED | FOREIGN | INVALID)
    async def check(body: CheckBody) -> Response:
        """The check with the patient's answers; posted to the reception either way."""
        credential: Credential | None = None
        answer: EligibilityAnswer | None = None
        failure: Failure | None = None
        try:
            if body.mode == "face" and device is None:
                raise Failure(
                    FailureKind.BAD_INPUT,
                    "この端末では顔認証を利用できません。暗証番号で確認するか、受付にお声がけください。",
                    "Face checks need this terminal's device key (ONSHI_CLINIC_DEVICE_KEY_FILE).",
                )
            placed = await run_in_threadpool(card_placed, reader)
            credential = placed.credential
            answer, _certificate = await run_in_threadpool(
                lambda: check_card(
                    reader,
                    client,
                    mode=body.mode,
                    pin=body.pin if isinstance(body, PinCheck) else None,
                    consents=Consents(
                        medication=body.consents.medication,
                        diagnosis=body.consents.medication,
                        health_checkups=body.consents.checkups,
                        limit_application=body.consents.limit,
                        specific_diseases=body.consents.limit,
                    ),
                    device=device,
                )
            )
        except Exception as exc:
            failure = await card_failure(failure_of(exc))
        record = check_in(body, credential, answer, failure)
        if failure is not None:
            log.warning(
                "card check refused at the reader: kind=%s code=%s request_id=%s clinic=%s "
                "method=%s check_in=%s",
                failure.kind.value, failure.code, failure.server_request_id, clinic, body.mode,
                record.id,
            )  # fmt: skip
        posted = await run_in_threadpool(reception.post, record)
        if failure is not None:
            response = failure_response(failure)
            response.headers["X-Reception-Posted"] = "1" if posted else "0"
            return response
        return JSONResponse({"outcome": "answered", "reception": posted})

    async def card_failure(failure: Failure) -> Failure:
        """A card failure with no card left on the reader: it was removed (its own screen)."""
        if failure.kind in _CARD_GONE:
            found = await run_in_threadpool(reader.status)
            if found.state is not ReaderState.CARD:
                return CARD_REMOVED
        return failure

    return app


def check_in(
    body: PinCheck | FaceCheck,
    credential: Credential | None,
    answer: EligibilityAnswer | None,
    failure: Failure | None,
) -> CheckIn:
    """The record of a finished check for the reception: the answers, never the PIN."""
    consents = body.consents
    dumped: dict[str, Any] | None = None
    if answer is not None:
        if consents.prescription is not None:
            # The server contract has no request field for it; the answer carries the choice
            # as the reader made it (AnswerBody.PrescriptionIssueSelect, docs/answer.md).
            select = PRESCRIPTION_SELECT[consents.prescription]
            body_ = answer.MessageBody.model_copy(update={"PrescriptionIssueSelect": select})
            answer = answer.model_copy(update={"MessageBody": body_})
        dumped = answer.model_dump(exclude_none=True)
    return CheckIn(
        id=uuid.uuid4(),
        checked_at=japan_now().replace(microsecond=0),
        method=body.mode,
        outcome="answered" if answer is not None else "failed",
        credential=credential,
        consents=consents,
        answer=dumped,
        failure=None
        if failure is None
        else CheckInFailure(
            kind=failure.kind.value, code=failure.code, message_ja=failure.message_ja
        ),
    )
