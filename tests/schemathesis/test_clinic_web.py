"""Schemathesis against the front-desk web app's OpenAPI document, in process, with a real
pcscd and an emulated card in its virtual reader, in front of a real qualification server:
no 5xx, every answer (status code, content type, body) is one the document promises, and a
request the document calls valid is not refused as malformed, by the desk or by the server
behind it, but for a reason no schema can state (`excuse`).

The app serves no document (`openapi_url=None`: the page needs none), so the document is
the one FastAPI builds from the app's routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import Case, CheckContext, Response

from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from clinic_client.api import QualificationClient
from clinic_client.reader import FrontDeskReader
from clinic_client.web.app import create_clinic_app
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber
from qualification_server.lookups import batches
from tests.support.cards import InsertedCard
from tests.support.world import KYOKAI, PIN, World

from .common import CHECKS, accepts_valid_requests, document_accepts, examples, is_positive

pytestmark = [pytest.mark.db, pytest.mark.pcsc]

READER = vpcd_reader_name(0)
# One desk for all of an operation's examples, on purpose: the app must cope with whatever
# the examples before did to the card (wrong PINs spend tries; a blocked PIN stays blocked).
EXAMPLES = examples(15)
# The event stream never ends: the answer is what it sent within this many seconds.
STREAM_S = 0.5


def _document() -> dict[str, Any]:
    """The document of the app as `create_clinic_app` builds it (the reader and the server
    are not touched to build it)."""
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    document = create_clinic_app(reader=FrontDeskReader(READER), client=client).openapi()
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
    """The front desk under test and the card slot of its reader."""

    def __init__(self, world: World, app: FastAPI) -> None:
        self.world = world
        self.app = app
        self.readers = PcscReaders()
        self.slot: InsertedCard | None = None

    def insert(self, label: str) -> None:
        path = self.world.card(label)
        card = EmulatedCard(load_image(path), on_change=lambda image: save_image(path, image))
        self.slot = InsertedCard(card, self.readers)
        self.slot.insert()

    def validate(self, case: schemathesis.Case) -> Any:
        """Send `case` to the desk; check the answer against the document."""
        extra: dict[str, Any] = {"timeout": STREAM_S} if case.path == "/api/events" else {}
        return case.call_and_validate(app=self.app, checks=DESK_CHECKS, **extra)


@pytest.fixture
def desk(world: World, pcscd: Pcscd) -> Iterator[Desk]:
    """The desk, talking to the world's server as its clinic, with a registered patient's
    card in the reader."""
    http = TestClient(world.client.app)
    client = QualificationClient(str(http.base_url), world.clinic_token, http=http)
    reader = FrontDeskReader(READER)
    app = create_clinic_app(
        reader=reader,
        client=client,
        device=("face-1", world.device_key),
        poll_interval_s=0.05,
    )
    desk = Desk(world, app)
    world.register("yamada-taro")
    desk.insert("yamada-taro")
    yield desk
    if desk.slot is not None:
        desk.slot.remove()
    desk.readers.close()
    reader.close()
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

    assert call("/api/status", "GET").json()["state"] == "card"
    assert call("/api/events", "GET").text.startswith("data: ")
    assert call("/api/card", "GET").json() == {"tries_left": 3, "credential": "card"}
    check = {"mode": "pin", "pin": PIN, "consents": {"limit_application": True}}
    assert call("/api/check", body=check).status_code == 200
    assert call("/api/check", body={"mode": "face"}).status_code == 200
    wrong = call("/api/check", body={"mode": "pin", "pin": "9999"})
    assert (wrong.status_code, wrong.json()["failure"]["kind"]) == (409, "wrong-pin")
    registration = call("/api/register", body={"pin": PIN})
    assert registration.json()["registration"]["already_registered"] is True
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
    ("/api/check", {"mode": "pin"}, "a PIN check without the PIN"),
    ("/api/check", {"mode": "pin", "pin": "\u0661\u0662\u0663\u0664"}, "a PIN of other digits"),
    ("/api/register", {"pin": "\uff11\uff12\uff13\uff14"}, "a PIN of full-width digits"),
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
    assert call_tries_left(desk) == 3  # no PIN was tried


def call_tries_left(desk: Desk) -> int:
    return int(TestClient(desk.app).get("/api/card").json()["tries_left"])


def test_the_requests_a_receptionist_sends_are_valid_by_the_document() -> None:
    sent = [
        ("/api/check", {"mode": "pin", "pin": PIN}),
        ("/api/check", {"mode": "face"}),
        ("/api/check", {"mode": "visual", "pin": PIN}),
        ("/api/register", {"pin": PIN}),
        ("/api/lookup", QUERY),
    ]
    for path, body in sent:
        assert document_accepts(DOCUMENT, path, body), (path, body)


def test_the_answers_without_a_card_keep_their_promises(desk: Desk) -> None:
    assert desk.slot is not None
    desk.slot.remove()
    desk.slot = None
    for path in ("/api/card", "/api/check", "/api/register"):
        method = "GET" if path == "/api/card" else "POST"
        body = {} if path == "/api/card" else {"body": {"mode": "face", "pin": PIN}}
        if path == "/api/register":
            body = {"body": {"pin": PIN}}
        answer = desk.validate(schema[path][method].Case(**body))
        assert (answer.status_code, answer.json()["failure"]["kind"]) == (409, "no-card")


def test_a_request_that_does_not_match_is_refused_without_its_values(desk: Desk) -> None:
    answer = desk.validate(schema["/api/check"]["POST"].Case(body={"mode": "pin", "pin": "98765"}))
    failure = answer.json()["failure"]
    assert (answer.status_code, failure["kind"]) == (422, "bad-input")
    assert "pin" in failure["message_en"] and "98765" not in answer.text
