"""The reception terminal (受付端末): a local page for the receptionist, Japanese first,
English available.

The patient checks in at the patient-facing reader (`clinic reader-serve`: card, PIN or face,
consents), which posts each check here (`POST /api/check-ins`, with the reception key); the
page gets today's check-ins pushed (server-sent events) and shows each result. The PIN never
comes here. The page also looks up an insured-card number and hands over tomorrow's
appointments (the batch). Served on localhost only; every answer carries strict security
headers; every refused lookup, batch or file is logged for IT (code, request id, clinic).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hmac
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi import Path as PathPart
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, SecretStr, ValidationError
from starlette.exceptions import HTTPException

from clinic_client.api import QualificationClient, ServerError, ServerRefused
from clinic_client.checkins import CheckIn
from clinic_client.desk import Failure, FailureKind, failure_of
from clinic_client.local_page import LOOPBACK_HOSTS, guard_page
from onshi_kernel import validation
from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.encoding import EncodingUnclear, detect_encoding
from onshi_kernel.japan_time import era_of, japan_date, japan_today, parse_yyyymmdd, yyyymmdd
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber
from qualification_server.contract.batch import BatchReceipt, BatchResult, ReceptionNumber
from qualification_server.contract.schemas import EligibilityAnswer, InsuredCardQuery

log = logging.getLogger("clinic_client.web")
STATIC = Path(__file__).resolve().parent / "static"
MAX_BATCH_BYTES = 1 << 20
BATCH_COLUMNS = (
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "Birthdate",
)


# What the page receives, as documented in the app's OpenAPI document (the routes build
# their answers themselves; these models describe them).


class FailureBody(BaseModel):
    kind: FailureKind
    message_ja: str
    message_en: str
    code: str | None = Field(None, description="the server's numbered error, when it refused")
    tries_left: int | None = None


class FailureAnswer(BaseModel):
    failure: FailureBody


class CheckAnswer(BaseModel):
    answer: EligibilityAnswer


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
        "echoed: one may be a name or a birth date)",
    },
}
ACTIONS = FAILURES | FOREIGN | INVALID  # the answers of a request with a body


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


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


# The fields of a query as the page names them (Q6001 and a refused batch row name the
# field in Japanese, never the value sent), and what each must look like.
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "InsurerNumber": ("保険者番号", "insurer number"),
    "InsuredCardSymbol": ("記号", "symbol"),
    "InsuredIdentificationNumber": ("番号", "number"),
    "InsuredBranchNumber": ("枝番", "branch number"),
    "Birthdate": ("生年月日", "birth date"),
    "LimitApplicationCertificateRelatedConsFlg": ("限度額の同意", "limit consent"),
    "date": ("確認日", "check date"),
}
FIELD_RULES: dict[str, tuple[str, str]] = {
    "InsurerNumber": ("数字8桁（国民健康保険は6桁）で入力してください", "8 digits (6 for 国保)"),
    "InsuredCardSymbol": ("38文字以内で入力してください", "at most 38 characters"),
    "InsuredIdentificationNumber": ("1〜38文字で入力してください", "1 to 38 characters"),
    "InsuredBranchNumber": ("数字2桁で入力してください", "2 digits"),
    "Birthdate": ("年月日を8桁（例 19800401）で入力してください", "a date as YYYYMMDD"),
    "date": ("年月日を選んでください", "a date"),
}
DEFAULT_RULE = ("入力内容を確認してください", "check the value")


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """Each field at fault once, as (Japanese name, Japanese rule, English element and name,
    English rule); pydantic's own words (English, a regex) are left out: they help nobody at
    a desk."""
    found: dict[str, tuple[str, str, str, str]] = {}
    for error in errors:
        field = validation.field_of(error.get("loc", ())).rsplit(".", 1)[-1]
        name_ja, name_en = FIELD_NAMES.get(field, (field, field))
        rule_ja, rule_en = FIELD_RULES.get(field, DEFAULT_RULE)
        found.setdefault(field, (name_ja, rule_ja, f"{field} ({name_en})", rule_en))
    return list(found.values())


def invalid_fields(errors: Iterable[Mapping[str, Any]], *, row: int | None = None) -> Failure:
    """A `bad-input` failure naming each field at fault (and the row of a file), in words."""
    problems = field_problems(errors)
    where_ja = f"{row}行目の" if row is not None else ""
    where_en = f"line {row}: " if row is not None else ""
    return Failure(
        FailureKind.BAD_INPUT,
        "、".join(f"{where_ja}{n}：{r}" for n, r, _, _ in problems) + "。",
        "; ".join(f"{where_en}{n}: {r}" for _, _, n, r in problems),
    )


def named_fields(text: str) -> list[str]:
    """The Japanese names of the query fields `text` (a server's IT message) mentions."""
    return [ja for field, (ja, _en) in FIELD_NAMES.items() if field in text]


def suspect_fields(query: InsuredCardQuery, message_it: str) -> list[str]:
    """The Japanese names of the fields the server refused (Q6001) a well-formed query for:
    those its IT message names, else those the desk can tell are wrong itself (an insurer
    number whose 検証番号 does not match, a birth date in the future)."""
    named = named_fields(message_it)
    if named:
        return named
    found = []
    try:
        InsurerNumber.parse(query.InsurerNumber)
    except InvalidInsurerNumber as exc:
        reason = "検証番号が合いません" if "check digit" in exc.reason else "番号が正しくありません"
        found.append(f"{FIELD_NAMES['InsurerNumber'][0]}：{reason}")
    try:
        if parse_yyyymmdd(query.Birthdate) > japan_today():
            found.append(f"{FIELD_NAMES['Birthdate'][0]}：未来の日付です")
    except ValueError:
        found.append(FIELD_NAMES["Birthdate"][0])
    return found


def wareki(text: str) -> str | None:
    """`YYYYMMDD` as 和暦 (令和8年12月2日), or None for what is no date."""
    try:
        day = parse_yyyymmdd(text)
        era, year = era_of(day)
    except ValueError:
        return None
    return f"{era.name}{'元' if year == 1 else year}年{day.month}月{day.day}日"


def wareki_of(answer: Any) -> dict[str, str]:
    """Every date of an answer (an element named …Date, …Birthdate) as 和暦, keyed by its
    YYYYMMDD: the page shows each date in both calendars from this."""
    found: dict[str, str] = {}

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif (
            isinstance(node, str)
            and key.endswith(("Date", "Birthdate"))
            and (shown := wareki(node)) is not None
        ):
            found[node] = shown

    walk(answer)
    return found


def clinic_of(token: str) -> str:
    """The 医療機関コード of a `<code>.<secret>` token (for the IT log; the secret never)."""
    return token.split(".", 1)[0] if "." in token else "?"


class CheckInBook:
    """Today's check-ins, in memory only (they hold names): the first look on another day
    (Japan time) drops the day before's. `version` counts changes, for the page's stream."""

    def __init__(self, today: Callable[[], dt.date]) -> None:
        self._today = today
        self._day = today()
        self._items: dict[str, tuple[int, dict[str, Any]]] = {}  # id: (arrival, record)
        self.version = 0

    def _roll(self) -> dt.date:
        today = self._today()
        if today != self._day:
            self._day, self._items = today, {}
            self.version += 1
        return today

    def add(self, record: dict[str, Any], day: dt.date) -> bool:
        """Keep `record` (checked on `day`); False for another day's check."""
        if day != self._roll():
            return False
        self.version += 1
        self._items[str(record["id"])] = (self.version, record)
        return True

    def listing(self) -> list[dict[str, Any]]:
        self._roll()
        # newest check first; of two in the same second, the one that came in last
        ordered = sorted(
            self._items.values(),
            key=lambda e: (dt.datetime.fromisoformat(e[1]["checked_at"]), e[0]),
        )
        return [record for _arrival, record in reversed(ordered)]

    def current_version(self) -> tuple[dt.date, int]:
        return self._roll(), self.version


def create_clinic_app(
    *,
    client: QualificationClient,
    reception_key: SecretStr | str = "",
    clinic_code: str = "?",
    on_check: Callable[[EligibilityAnswer], object] | None = None,
    poll_interval_s: float = 0.25,
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS,
    today: Callable[[], dt.date] = japan_today,
) -> FastAPI:
    """The reception terminal (受付端末) over `client`: today's check-ins as the patient-facing
    reader (`clinic reader-serve`) posts them with `reception_key`, the insured-number lookup
    and the batch. No route takes a PIN (nor a card, nor a device key): the reader page does
    the card check in its own process. `allowed_hosts` are the names
    the page may be reached by (the Host header), besides the address a request comes in on."""
    app = FastAPI(title="onshi reception", docs_url=None, redoc_url=None, openapi_url=None)
    key = (
        reception_key.get_secret_value() if isinstance(reception_key, SecretStr) else reception_key
    ).encode()
    book = CheckInBook(today)

    def refused(what: str, code: str, detail: str = "", server_request: str | None = None) -> str:
        """One line for IT per refused request: what, the code, a request id, the clinic —
        never a name, a number or a birth date (`detail` is field names or a server's IT
        text, which names rules, not values). The id goes back to the page with it."""
        request_id = uuid.uuid4().hex[:16]
        log.warning(
            "refused %s: code=%s request=%s server_request=%s clinic=%s%s",
            what, code, request_id, server_request or "-", clinic_code,
            f" ({detail})" if detail else "",
        )  # fmt: skip
        return request_id

    def refusal(what: str, failure: Failure, status: int | None = None) -> JSONResponse:
        """`failure` answered as `failure_response` does, with the request id it is logged
        under (the receptionist can quote it to IT)."""
        request_id = refused(
            what, failure.code or failure.kind.value, failure.message_en, failure.server_request_id
        )
        if status is None:
            status = 503 if failure.kind is FailureKind.SERVER_UNREACHABLE else 409
        body = {**asdict(failure), "kind": failure.kind.value, "request_id": request_id}
        return JSONResponse({"failure": body}, status_code=status)

    def foreign(why: str) -> Response:
        return failure_response(
            Failure(
                FailureKind.REFUSED,
                "この端末の画面以外からの操作は受け付けません。",
                f"Only the reception's own page may use it: {why}.",
            ),
            403,
        )

    guard_page(app, foreign, allowed_hosts=allowed_hosts, whose="this desk's")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own answer would echo the values (a name, a number, a birth date).
        failure = invalid_fields(exc.errors())
        what = "lookup" if request.url.path == "/api/lookup" else request.url.path
        return refusal(what, Failure(failure.kind, failure.message_ja, failure.message_en), 422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400:
            return bad_input("the request body could not be read")
        if exc.status_code == 413:
            return too_large(request)
        return await http_exception_handler(request, exc)

    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BYTES, refuse=too_large)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Ready when the qualification server answers and takes this clinic's token (a
        challenge asked for: the cheapest call that needs both)."""
        try:
            await run_in_threadpool(client.challenge)
        except ServerRefused as exc:
            refused("readiness", exc.code, exc.message_it)
            return JSONResponse(
                {"status": "not ready", "reason": f"the server refused the token ({exc.code})"},
                status_code=503,
            )
        except ServerError:
            refused("readiness", "server-unreachable")
            return JSONResponse(
                {"status": "not ready", "reason": "the qualification server is unreachable"},
                status_code=503,
            )
        return JSONResponse({"status": "ready"})

    @app.post("/api/check-ins", status_code=202, include_in_schema=False)
    async def post_check_in(request: Request) -> Response:
        """A check the reader did, as it posts it: kept for today, shown on the page."""
        given = request.headers.get("authorization", "")
        expected = b"Bearer " + key
        if not key or not hmac.compare_digest(given.encode(), expected):
            refused("check-in", "unauthenticated")
            return JSONResponse(
                {"failure": {"kind": "refused", "message_en": "a check-in needs the reception "
                             "key", "message_ja": "受付端末の鍵がありません。"}},
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        try:
            check_in = CheckIn.model_validate_json(await request.body())
        except ValidationError as exc:
            refused("check-in", "bad-input", validation.summary(exc.errors()))
            return bad_input(validation.summary(exc.errors()))
        record = check_in.model_dump(mode="json", exclude_none=True)
        day = japan_date(check_in.checked_at)
        if not book.add(record, day):
            refused("check-in", "another-day")
            return bad_input("checked_at: not today's check (Japan time)")
        if check_in.failure is not None:  # a failed check at the reader, for IT too
            failure = record.get("failure") or {}
            log.warning(
                "failed check-in: kind=%s code=%s check=%s clinic=%s method=%s",
                failure.get("kind"), failure.get("code"), check_in.id, clinic_code,
                check_in.method,
            )  # fmt: skip
        if on_check is not None and record.get("answer"):
            answer = EligibilityAnswer.model_validate(record["answer"])
            await run_in_threadpool(on_check, answer)
        return JSONResponse({"accepted": str(check_in.id)}, status_code=202)

    def shown(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "wareki": wareki_of(record.get("answer") or {})}

    @app.get("/api/check-ins", include_in_schema=False)
    async def check_ins() -> dict[str, Any]:
        """Today's check-ins, newest first, each with its dates in 和暦."""
        return {"check_ins": [shown(r) for r in book.listing()]}

    @app.get("/api/check-ins/events", response_class=EventStream, include_in_schema=False)
    async def check_in_events(request: Request) -> StreamingResponse:
        """Today's check-ins (as /api/check-ins) at the start and at every change."""

        async def stream() -> AsyncIterator[str]:
            last: tuple[dt.date, int] | None = None
            beat = 0
            while not await request.is_disconnected():
                now = book.current_version()
                if now != last:
                    yield f"data: {json.dumps(await check_ins(), ensure_ascii=False)}\n\n"
                    last, beat = now, 0
                elif (beat := beat + 1) % 40 == 0:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(poll_interval_s)

        return EventStream(stream())

    @app.get("/api/tomorrow", include_in_schema=False)
    async def tomorrow() -> dict[str, str]:
        """The batch's default date: the next day in Japan (the browser's zone may differ)."""
        return {"date": (today() + dt.timedelta(days=1)).isoformat()}

    @app.post("/api/lookup", response_model=CheckAnswer, responses=ACTIONS)
    async def lookup(query: InsuredCardQuery) -> Response:
        try:
            answer = await run_in_threadpool(client.lookup, query)
        except ServerRefused as exc:
            failure = failure_of(exc)
            fields = suspect_fields(query, exc.message_it) if exc.code == "Q6001" else []
            if fields:
                failure = Failure(
                    failure.kind,
                    f"入力内容の誤り（{'、'.join(fields)}）：{failure.message_ja}",
                    failure.message_en,
                    failure.code,
                )
            return refusal("lookup", failure)
        except (ServerError, ValueError) as exc:
            return refusal("lookup", failure_of(exc))
        body = answer.model_dump(exclude_none=True)
        return JSONResponse({"answer": body, "wareki": wareki_of(body)})

    @app.post("/api/batch", status_code=202, response_model=BatchReceiptAnswer, responses=ACTIONS)
    async def batch(
        file: Annotated[UploadFile, File()], date: Annotated[str | None, Form()] = None
    ) -> Response:
        raw = await file.read(MAX_BATCH_BYTES + 1)
        try:
            queries = parse_batch_csv(raw)
        except BatchRefused as exc:
            return refusal("batch file", exc.failure)
        confirmation = None
        if date:
            try:
                confirmation = yyyymmdd(dt.date.fromisoformat(date))
            except ValueError:
                return refusal("batch file", invalid_fields([{"loc": ("date",)}]), 422)
        try:
            receipt = await run_in_threadpool(
                lambda: client.submit_batch(queries, confirmation_date=confirmation)
            )
        except ServerError as exc:
            return refusal("batch", failure_of(exc))
        return JSONResponse({"receipt": receipt.model_dump(exclude_none=True)}, status_code=202)

    @app.get("/api/batch/{reception_number}", response_model=BatchCheckAnswer, responses=FAILURES)
    async def batch_result(reception_number: Annotated[ReceptionNumber, PathPart()]) -> Response:
        """The batch's result; `SegmentOfResult` 2 while the server is still at it."""
        try:
            result = await run_in_threadpool(client.fetch_batch, reception_number)
        except ServerError as exc:
            return refusal("batch", failure_of(exc))
        body = result.model_dump(exclude_none=True)
        return JSONResponse({"batch": body, "wareki": wareki_of(body)})

    return app


class BatchRefused(ValueError):
    """A batch file refused: its `failure` says the row and the field, in Japanese and
    English, never a value from the file."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message_en)
        self.failure = failure


def _unreadable(ja: str, en: str) -> BatchRefused:
    return BatchRefused(
        Failure(FailureKind.BAD_INPUT, f"CSVを読めません：{ja}", f"Unreadable CSV: {en}")
    )


def parse_batch_csv(raw: bytes) -> list[InsuredCardQuery]:
    """Tomorrow's appointments: a CSV (UTF-8 or Shift_JIS) with the answer's element names
    (docs/answer.md) as columns. Raises ValueError naming the line and the problem."""
    if len(raw) > MAX_BATCH_BYTES:
        raise _unreadable("1 MiBを超えています", "the file is larger than 1 MiB")
    try:
        # The registry's import reads member files the same way: a file that mixes UTF-8
        # and Shift_JIS is refused at its first line at fault, not read garbled.
        encoding = detect_encoding(io.BytesIO(raw))
    except EncodingUnclear as unclear:
        raise _unreadable(f"文字コードが判別できません（{unclear}）", str(unclear)) from None
    text = raw.decode(encoding)
    try:
        # newline="" as the csv module wants: a bare CR inside a file is then its business
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        table = list(reader)
    except csv.Error as exc:  # its messages name the problem, never the values
        raise _unreadable("CSV形式ではありません", f"not a CSV file: {exc}") from None
    optional = ("InsuredCardSymbol", "InsuredBranchNumber")
    missing = [c for c in BATCH_COLUMNS if c not in header and c not in optional]
    if missing:
        raise _unreadable(
            f"列がありません：{'、'.join(missing)}", f"missing columns: {', '.join(missing)}"
        )
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
            raise BatchRefused(invalid_fields(exc.errors(), row=line)) from None
    if not queries:
        raise _unreadable("患者の行がありません", "no rows")
    return queries
