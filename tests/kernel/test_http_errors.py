"""Errors as HTTP answers, as every onshi server gives them: the body, the request id the
answer and the log line share, and no value of the request in either."""

from __future__ import annotations

import logging
from enum import StrEnum

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.errors import ErrorBody, ErrorInfo, catalogue
from onshi_kernel.http_errors import ErrorAnswers, error_response, request_id

SECRET = "123456789018"  # what a request may send: a My Number, say


class Code(StrEnum):
    INVALID = "T1001"
    TOO_LARGE = "T1002"
    GONE = "T2001"
    INTERNAL = "T9001"


CATALOGUE = catalogue(
    Code,
    {
        Code.INVALID: ErrorInfo(
            422, "入力内容に誤りがあります。", "The request breaks the schema."
        ),
        Code.TOO_LARGE: ErrorInfo(413, "送信データが大きすぎます。", "The body is too large."),
        Code.GONE: ErrorInfo(404, "見つかりません。", "No such thing."),
        Code.INTERNAL: ErrorInfo(500, "システムエラーです。", "A bug; see the log."),
    },
)


class Problem(BaseModel):
    field: str
    reason: str


class ThingErrorBody(ErrorBody):
    """A package's body with data fields of its own."""

    problems: list[Problem] | None = None
    thing_id: int | None = None


class Pin(BaseModel):
    pin: str = Field(pattern="^[0-9]{4}$")


def _app(answers: ErrorAnswers[Code], max_bytes: int = 1024) -> FastAPI:
    app = FastAPI()
    answers.install(app)

    @app.post("/pin")
    def pin(body: Pin) -> dict[str, str]:
        return {}

    @app.get("/gone")
    def gone(request: Request) -> JSONResponse:
        return answers.answer(request, Code.GONE, detail="thing 7", data={"thing_id": 7})

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError(f"could not parse {SECRET}")

    app.add_middleware(BodySizeLimit, max_bytes=max_bytes, refuse=answers.refuse_too_large)
    return app


PLAIN = ErrorAnswers(
    CATALOGUE, invalid_request=Code.INVALID, too_large=Code.TOO_LARGE, internal=Code.INTERNAL
)
WITH_DATA = ErrorAnswers(
    CATALOGUE,
    invalid_request=Code.INVALID,
    too_large=Code.TOO_LARGE,
    internal=Code.INTERNAL,
    body=ThingErrorBody,
    list_problems=True,
    too_large_detail="the body is larger than 1024 bytes",
)


def _request(headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_an_answer_is_the_code_its_texts_the_detail_and_the_request_id() -> None:
    response = error_response(
        _request({"X-Request-ID": "desk-42"}), Code.GONE, CATALOGUE[Code.GONE], detail="thing 7"
    )
    assert response.status_code == 404
    assert response.body.decode() == (
        '{"error":{"code":"T2001","message":"見つかりません。","message_it":"No such thing.",'
        '"detail":"thing 7","request_id":"desk-42"}}'
    )


def test_an_answer_without_detail_says_null() -> None:
    response = error_response(_request({"X-Request-ID": "r1"}), Code.GONE, CATALOGUE[Code.GONE])
    assert b'"detail":null,"request_id":"r1"}}' in response.body


def test_data_fields_follow_and_those_not_given_are_left_out() -> None:
    client = TestClient(_app(WITH_DATA))
    error = client.get("/gone", headers={"X-Request-ID": "r2"}).json()["error"]
    assert list(error) == ["code", "message", "message_it", "detail", "request_id", "thing_id"]
    assert error["thing_id"] == 7


def test_a_data_field_the_body_does_not_declare_is_refused() -> None:
    with pytest.raises(ValidationError):
        error_response(_request(), Code.GONE, CATALOGUE[Code.GONE], data={"thing_id": 7})


def test_retry_after_becomes_the_header() -> None:
    response = error_response(_request(), Code.GONE, CATALOGUE[Code.GONE], retry_after_s=2)
    assert response.headers["Retry-After"] == "2"


def test_the_request_id_is_made_once_per_request() -> None:
    request = _request()
    made = request_id(request)
    assert len(made) == 32 and request_id(request) == made


@pytest.mark.parametrize(
    "sent", ["with space", "x" * 201, "タグ", ""], ids=["space", "long", "non-ASCII", "empty"]
)
def test_a_request_id_that_does_not_look_like_one_is_replaced(sent: str) -> None:
    request = _request({"X-Request-ID": sent} if sent.isascii() else {})
    if not sent.isascii():  # headers are bytes: put the UTF-8 in as it arrives
        request.scope["headers"].append((b"x-request-id", sent.encode()))
    assert request_id(request) != sent


@pytest.mark.parametrize("sent", [None, "desk-42"])
def test_a_bug_answers_with_the_request_id_it_logged_and_no_word_of_its_message(
    caplog: pytest.LogCaptureFixture, sent: str | None
) -> None:
    client = TestClient(_app(PLAIN), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="onshi_kernel.http_errors"):
        response = client.get("/bug", headers={"X-Request-ID": sent} if sent else {})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == Code.INTERNAL and error["request_id"] == (sent or error["request_id"])
    assert error["detail"] == f"request {error['request_id']}"
    (logged,) = [r.getMessage() for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged.startswith("unexpected error (RuntimeError) on GET /bug at ")
    assert logged.endswith(f"request {error['request_id']}")
    assert SECRET not in logged and SECRET not in response.text
    assert all(record.exc_info is None for record in caplog.records)  # no traceback text


@pytest.mark.parametrize("answers", [PLAIN, WITH_DATA], ids=["plain", "with problems"])
def test_a_request_that_breaks_the_schema_names_the_field_and_never_the_value(
    answers: ErrorAnswers[Code],
) -> None:
    response = TestClient(_app(answers)).post("/pin", json={"pin": SECRET})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == Code.INVALID
    assert error["detail"].startswith("pin: String should match pattern")
    assert SECRET not in response.text
    if answers.list_problems:
        assert [p["field"] for p in error["problems"]] == ["pin"]
    else:
        assert "problems" not in error


def test_a_body_that_cannot_be_decoded_is_an_invalid_request() -> None:
    response = TestClient(_app(WITH_DATA)).post(
        "/pin", content=b'{"pin": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["detail"]) == (Code.INVALID, "body: not decodable as JSON")
    assert error["problems"] == [{"field": "body", "reason": "not decodable as JSON"}]


def test_a_declared_body_over_the_limit_is_refused_with_the_too_large_code() -> None:
    response = TestClient(_app(WITH_DATA)).post("/pin", content=b"x" * 2048)
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["detail"]) == (
        Code.TOO_LARGE,
        "the body is larger than 1024 bytes",
    )


def test_a_streamed_body_over_the_limit_is_refused_with_the_too_large_code() -> None:
    def chunks() -> object:
        yield b"x" * 800
        yield b"x" * 800

    response = TestClient(_app(PLAIN)).post(
        "/pin", content=chunks(), headers={"Content-Type": "application/json"}
    )  # type: ignore[arg-type]
    assert (response.status_code, response.json()["error"]["code"]) == (413, Code.TOO_LARGE)


def test_other_framework_answers_stay_as_they_are() -> None:
    response = TestClient(_app(PLAIN)).get("/nowhere")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
