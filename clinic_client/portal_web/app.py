"""The portal page's app (the マイナポータル stand-in), on the person's own PC with their
card reader: マイナンバーカードでログイン, the registration, which insurers linked the My
Number and how the issuer's match came out, who looked at their data, 利用登録 and its
withdrawal.

The PIN comes from the page to this app and goes to the card only (never to the server,
never into a log); the app keeps nothing between requests: every action is proved with the
card again, as the real portal asks. The My Number is read from the card and shown masked
to its last 4 digits. Served on localhost only, with strict security headers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from card_reader.core.errors import (
    CardError,
    CardRemoved,
    NoCard,
    NoReader,
    PinBlocked,
    PinError,
    PinNotIssued,
    ReaderUnavailable,
)
from clinic_client.api import QualificationClient, ServerError, ServerRefused, ServerUnreachable
from clinic_client.local_page import guard_page
from clinic_client.portal_web import card
from clinic_client.portal_web.card import PortalReader
from clinic_client.portal_web.words import (
    history_rows,
    linkage_rows,
    missing_keys_words,
    registration_view,
)
from clinic_client.reader import ReaderState

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
CERTIFICATE_CODES = frozenset({"Q1001", "Q1002", "Q1003", "Q1004", "Q1005", "Q1006"})
Pin = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="the card's 4-digit PIN")]


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: Pin


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: Pin
    consent: Literal[True] = Field(description="the person ticked 同意する")


@dataclass(frozen=True, slots=True)
class LogCheck:
    """What the page checks each access record against: the access log's verifier key, its
    witnesses' keys and its origin, from this PC's own settings (never from the server, whose
    word the check is about)."""

    log_key: str | None = None
    witness_keys: tuple[str, ...] = ()
    origin: str | None = None

    def verification(self, checkpoint: str | None) -> dict[str, Any]:
        """The keys and the checkpoint to check by, for the page; `missing` says which
        setting is unset, in words, None when the check can run."""
        return {
            "log_key": self.log_key,
            "witness_keys": list(self.witness_keys),
            "origin": self.origin,
            "checkpoint": checkpoint,
            "missing": missing_keys_words(
                log_key=bool(self.log_key), witness_keys=bool(self.witness_keys)
            ),
        }


def failure(
    kind: str, message: str, *, status: int = 409, code: str | None = None,
    tries_left: int | None = None,
) -> JSONResponse:  # fmt: skip
    """A failure screen's content: what happened and what to do (Japanese)."""
    body = {"kind": kind, "message": message, "code": code, "tries_left": tries_left}
    return JSONResponse({"failure": body}, status_code=status)


def failure_of(exc: Exception, action: str) -> JSONResponse:
    """The screen for what went wrong; logged for IT by kind and code, nothing personal."""
    response = _failure_of(exc)
    log.info("portal %s failed: %s", action, bytes(response.body).decode()[:200])
    return response


def _failure_of(exc: Exception) -> JSONResponse:
    if isinstance(exc, PinError) and exc.tries_left > 0:
        return failure(
            "wrong-pin",
            f"暗証番号が違います。あと{exc.tries_left}回まちがえるとロックされます。",
            tries_left=exc.tries_left,
        )
    if isinstance(exc, (PinError, PinBlocked, PinNotIssued)):  # a PinError here: 0 tries left
        return failure(
            "pin-blocked",
            "暗証番号がロックされています（または暗証番号のないカードです）。"
            "お住まいの市区町村の窓口で暗証番号の再設定を受けてください。",
            tries_left=0,
        )
    if isinstance(exc, (CardRemoved, NoCard)):
        return failure("no-card", "カードが読み取れません。カードリーダーに置き直してください。")
    if isinstance(exc, (NoReader, ReaderUnavailable)):
        return failure("no-reader", "カードリーダーが見つかりません。接続を確認してください。")
    if isinstance(exc, ServerUnreachable):
        return failure(
            "server-unreachable",
            "サーバーに接続できません。インターネット接続を確認して、しばらくしてからもう一度お試しください。",
            status=503,
        )
    if isinstance(exc, ServerRefused):
        if exc.code in CERTIFICATE_CODES:
            return failure(
                "certificate-refused",
                "このカードの利用者証明用電子証明書が使えません（有効期限切れ・失効など）。"
                "お住まいの市区町村の窓口で更新の手続きをしてください。",
                code=exc.code,
            )
        return failure("refused", exc.message, code=exc.code)
    if isinstance(exc, ServerError):
        return failure("server-error", "サーバーの応答を読めませんでした。もう一度お試しください。")
    if isinstance(exc, CardError):
        return failure(
            "card-error", "カードを読み取れませんでした。置き直して、もう一度お試しください。"
        )
    raise exc


def create_portal_app(
    *,
    reader: PortalReader,
    client: QualificationClient,
    poll_interval_s: float = 0.5,
    log_check: LogCheck | None = None,
) -> FastAPI:
    """The portal's app for one reader and one server; `log_check`: the keys the page checks
    the access records by (None: the page says none are configured)."""
    keys = log_check or LogCheck()
    app = FastAPI(title="onshi portal (マイナポータル stand-in)", docs_url=None, redoc_url=None)

    def foreign(why: str) -> Response:
        log.warning("portal refused a request: %s", why)
        return JSONResponse(
            {"failure": {"kind": "forbidden", "message": "このページの操作ではありません。"}},
            status_code=403,
        )

    guard_page(app, foreign, no_store_under="/")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Fields named, values never echoed: one is the PIN.
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        message = "暗証番号（数字4桁）を入力してください。"
        if "consent" in fields:
            message = "利用規約に同意する場合はチェックを入れてください。"
        return JSONResponse(
            {"failure": {"kind": "bad-input", "message": message, "fields": fields}},
            status_code=422,
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        """The reader's state; a new card counts up `insertion` (the page logs out on removal)."""
        now = await run_in_threadpool(reader.status)
        return {"state": now.state.value, "insertion": now.insertion, "poll_s": poll_interval_s}

    @app.get("/api/card")
    async def card_state() -> Response:
        """The card's PIN tries left (spends none): a blocked card is told so at once."""
        try:
            tries = await run_in_threadpool(card.pin_tries_left, reader)
        except Exception as exc:  # every failure has its screen
            return failure_of(exc, "card")
        return JSONResponse({"tries_left": tries})

    @app.post("/api/login")
    async def login(body: PinBody) -> Response:
        try:
            signed = await run_in_threadpool(card.sign_in, reader, client, pin=body.pin)
        except Exception as exc:
            return failure_of(exc, "sign-in")
        tail = signed.my_number
        history = signed.history
        log.info("portal sign-in: %d history entries", len(history.entries))
        return JSONResponse(
            {
                "registered": history.registration is not None,
                "my_number": {
                    "masked": f"●●●●●●●●{tail.last4}" if tail.last4 else None,
                    "note": tail.note,
                },
                "registration": registration_view(history),
                "history": history_rows(history),
                "linkages": linkage_rows(history),
                "verification": keys.verification(history.checkpoint),
            }
        )

    @app.post("/api/register")
    async def register(body: RegisterBody) -> Response:
        try:
            result = await run_in_threadpool(card.register, reader, client, pin=body.pin)
        except Exception as exc:
            return failure_of(exc, "registration")
        return JSONResponse(
            {"registered": True, "already": result.already_registered, "insurers": result.insurers}
        )

    @app.post("/api/unregister")
    async def unregister(body: PinBody) -> Response:
        try:
            done = await run_in_threadpool(card.unregister, reader, client, pin=body.pin)
        except Exception as exc:
            return failure_of(exc, "unregistration")
        return JSONResponse({"unregistered": done})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


__all__ = ["LogCheck", "ReaderState", "create_portal_app"]
