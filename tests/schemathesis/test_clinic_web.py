"""Schemathesis against the reception terminal's OpenAPI document, in process, in front of
a real qualification server: no 5xx, every answer (status code, content type, body) is one
the document promises, and a request the document calls valid is not refused as malformed,
by the desk or by the server behind it, but for a reason no schema can state (`excuse`).

The app serves no document (`openapi_url=None`: the page needs none), so the document is
the one FastAPI builds from the app's routes. It has no card route: the PIN is typed at the
patient-facing reader (tests/schemathesis/test_reader_web.py), and the last test here makes
sure no route of the reception takes one."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import Case, CheckContext, Response

from clinic_client.api import QualificationClient
from clinic_client.web.app import create_clinic_app
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber
from qualification_server.lookups import batches
from tests.support.world import KYOKAI, PIN, World

from .common import CHECKS, accepts_valid_requests, document_accepts, examples, is_positive

pytestmark = [pytest.mark.db]

# One desk for all of an operation's examples, on purpose: the app must cope with whatever
# the examples before did (batches submitted stay on the server).
EXAMPLES = examples(15)


def _document() -> dict[str, Any]:
    """The document of the app as `create_clinic_app` builds it (the server is not touched
    to build it)."""
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    document = create_clinic_app(client=client).openapi()
    client.close()
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def _check_digit_wrong(body: Any) -> bool:
    try:
        InsurerNumber.parse(body["InsurerNumber"])
    except InvalidInsurerNumber as error:
        return error.reason == "check digit does not match"
    return False


def excuse(case: Case, response: Response) -> str | None:
    """Why a request the document calls valid was refused as malformed, when no schema can
    say it; None when the document is looser than the desk or the server behind it."""
    failure = response.json()["failure"]
    if case.path == "/api/batch" and failure["kind"] == "bad-input":
        return "the appointment list's content: a CSV file, which the document leaves aside"
    if case.path == "/api/lookup" and failure["code"] == "Q6001" and _check_digit_wrong(case.body):
        return "an insurer number whose check digit does not match"
    return None


def refused_as_malformed(response: Response) -> bool:
    """A 409 is a check that failed, but not when it says the request was malformed: the
    desk's `bad-input`, or the server's INVALID_REQUEST (Q6001) passed on."""
    if response.status_code != 409:
        return False
    failure = response.json()["failure"]
    return bool(failure["kind"] == "bad-input" or failure["code"] == "Q6001")


def the_desk_takes_valid_requests(ctx: CheckContext, response: Response, case: Case) -> None:
    """No 409 for a malformed request the document calls valid (`refused_as_malformed`)."""
    if is_positive(case) and refused_as_malformed(response) and excuse(case, response) is None:
        failure = response.json()["failure"]
        raise AssertionError(
            f"a request the document calls valid was refused as malformed: {failure}"
        )


DESK_CHECKS = [*CHECKS, accepts_valid_requests(excuse), the_desk_takes_valid_requests]


class Desk:
    """The reception terminal under test."""

    def __init__(self, world: World, app: FastAPI) -> None:
        self.world = world
        self.app = app

    def validate(self, case: schemathesis.Case) -> Any:
        """Send `case` to the desk; check the answer against the document."""
        return case.call_and_validate(app=self.app, checks=DESK_CHECKS)


@pytest.fixture
def desk(world: World) -> Iterator[Desk]:
    """The reception terminal, talking to the world's server as its clinic."""
    http = TestClient(world.client.app)
    client = QualificationClient(str(http.base_url), world.clinic_token, http=http)
    yield Desk(world, create_clinic_app(client=client, poll_interval_s=0.05))
    client.close()


def test_the_document_tested_is_the_apps(desk: Desk) -> None:
    assert desk.app.openapi() == DOCUMENT


@schema.parametrize()
@EXAMPLES
def test_every_operation_keeps_its_promises(case: schemathesis.Case, desk: Desk) -> None:
    desk.validate(case)


def test_every_answer_of_a_valid_request_keeps_its_promises(desk: Desk) -> None:
    """The answers a receptionist gets, each as documented."""

    def call(path: str, method: str = "POST", **data: Any) -> Any:
        return desk.validate(schema[path][method].Case(**data))

    query = {"InsurerNumber": KYOKAI.wire, "InsuredCardSymbol": "記号12",
             "InsuredIdentificationNumber": "1001", "InsuredBranchNumber": "00",
             "Birthdate": "19800401"}  # fmt: skip
    assert call("/api/lookup", body=query).status_code == 200
    csv = (
        "InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,"
        f"Birthdate\n{KYOKAI.wire},記号12,1001,00,19800401\n"
    )
    submitted = call("/api/batch", body={"file": csv.encode()}, media_type="multipart/form-data")
    assert submitted.status_code == 202
    number = submitted.json()["receipt"]["MessageHeader"]["ReceptionNumber"]

    def result() -> Any:
        path = "/api/batch/{reception_number}"
        return call(path, "GET", path_parameters={"reception_number": number}).json()["batch"]

    assert result()["MessageHeader"]["SegmentOfResult"] == "2"  # 処理中
    batches.work(desk.world.deps)  # what the server's worker does in the background
    assert result()["MessageHeader"]["NumberOfNormalProcessing"] == 1


QUERY = {"InsurerNumber": KYOKAI.wire, "InsuredIdentificationNumber": "1001",
         "InsuredBranchNumber": "00", "Birthdate": "19800401"}  # fmt: skip
# What the desk, or the server behind it, refused as malformed while the document called it
# valid (schemathesis's positive-data check found each): the document now refuses it too,
# and so does the desk, itself, with its own `bad-input`.
MALFORMED = [
    ("/api/lookup", {**QUERY, "InsurerNumber": "000000"}, "都道府県番号 00"),
    ("/api/lookup", {**QUERY, "InsurerNumber": "0113a01"}, "an insurer number not digits"),
    ("/api/lookup", {**QUERY, "Birthdate": "19800230"}, "a birth date that is not a date"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "what"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_what_the_desk_refuses_as_malformed_the_document_calls_invalid(
    desk: Desk, path: str, body: dict[str, Any], what: str
) -> None:
    assert not document_accepts(DOCUMENT, path, body), what
    answer = TestClient(desk.app).post(path, json=body)
    assert (answer.status_code, answer.json()["failure"]["kind"]) == (422, "bad-input")


def test_the_requests_a_receptionist_sends_are_valid_by_the_document() -> None:
    assert document_accepts(DOCUMENT, "/api/lookup", QUERY)


def test_a_request_that_does_not_match_is_refused_without_its_values(desk: Desk) -> None:
    sent: dict[str, Any] = {**QUERY, "InsuredBranchNumber": "987"}
    answer = desk.validate(schema["/api/lookup"]["POST"].Case(body=sent))
    failure = answer.json()["failure"]
    assert (answer.status_code, failure["kind"]) == (422, "bad-input")
    assert "InsuredBranchNumber" in failure["message_en"] and "987" not in answer.text


def _names(node: Any) -> Iterator[str]:
    """Every property name and parameter name anywhere in an OpenAPI document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            if key == "name" and isinstance(value, str):
                yield value
            yield from _names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _names(value)


def test_the_reception_has_no_route_that_takes_a_pin() -> None:
    """The PIN is typed at the reader page and goes to the card only: the reception's
    document names no `pin` anywhere, no route of the app (documented or not) has one in
    its path or its body, and the old card check is gone (404/405), with or without a PIN.
    Nor can a reception be built with a reader or a device key to serve one."""
    assert not {"reader", "device"} & set(inspect.signature(create_clinic_app).parameters)
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    app = create_clinic_app(client=client, reception_key="k")
    names = {name.lower() for name in _names(app.openapi())}
    assert "pin" not in names, sorted(names)
    assert not [p for p in app.openapi()["paths"] if "pin" in p.lower()]
    for route in app.routes:
        path = str(getattr(route, "path", ""))
        assert "pin" not in path.lower() and "card" not in path.lower(), path
        body = getattr(route, "body_field", None)
        if body is not None:
            assert "pin" not in str(body.field_info.annotation).lower(), path
    http = TestClient(app)
    for path in ("/api/check", "/api/pin", "/api/register", "/api/card"):
        for body in ({"mode": "pin", "pin": PIN}, {"pin": PIN}):
            answer = http.post(path, json=body)
            assert answer.status_code in (404, 405), (path, answer.status_code)
            assert PIN not in answer.text
    client.close()
