"""Schemathesis against the patient-facing reader page's OpenAPI document (the app that
takes the card and its PIN, `clinic reader-serve`), in process, with a real pcscd and an
emulated card in its virtual reader, in front of a real qualification server over HTTP: no
5xx, every answer (status code, content type, body) is one the document promises, and a
request the document calls valid is not refused as malformed.

The app serves no document (`openapi_url=None`: the page needs none), so the document is
the one FastAPI builds from the app's routes. These are the card routes the reception
terminal had before the PIN left it (tests/schemathesis/test_clinic_web.py)."""

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
from clinic_client.reader_web.app import create_reader_app
from qualification_server.api.app import create_app
from tests.support.cards import InsertedCard
from tests.support.desk import ServerThread
from tests.support.world import PIN, World

from .common import CHECKS, accepts_valid_requests, document_accepts, examples, is_positive

pytestmark = [pytest.mark.db, pytest.mark.pcsc]

READER = vpcd_reader_name(0)
# One reader for all of an operation's examples, on purpose: the app must cope with whatever
# the examples before did to the card (wrong PINs spend tries; a blocked PIN stays blocked).
EXAMPLES = examples(15)
CONSENTS = {"medication": True, "checkups": False, "limit": True, "prescription": "electronic"}


def _document() -> dict[str, Any]:
    """The document of the app as `create_reader_app` builds it (the reader and the server
    are not touched to build it)."""
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    app = create_reader_app(
        reader=FrontDeskReader(READER), client=client, server_url="http://127.0.0.1:9"
    )
    document = app.openapi()
    client.close()
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def excuse(case: Case, response: Response) -> str | None:
    """No refusal of a valid request is excused: the reader page's requests are a PIN and
    four answers, all of which a schema can state."""
    return None


def the_reader_takes_valid_requests(ctx: CheckContext, response: Response, case: Case) -> None:
    """No 409 `bad-input` for a request the document calls valid."""
    if is_positive(case) and response.status_code == 409:
        failure = response.json()["failure"]
        if failure["kind"] == "bad-input" and excuse(case, response) is None:
            raise AssertionError(
                f"a request the document calls valid was refused as malformed: {failure}"
            )


READER_CHECKS = [*CHECKS, accepts_valid_requests(excuse), the_reader_takes_valid_requests]


class ReaderUnderTest:
    """The reader page under test and the card slot of its reader."""

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
        """Send `case` to the reader page; check the answer against the document."""
        return case.call_and_validate(app=self.app, checks=READER_CHECKS)

    def tries_left(self) -> int:
        return int(TestClient(self.app).get("/api/card").json()["tries_left"])


@pytest.fixture
def reader_app(world: World, pcscd: Pcscd) -> Iterator[ReaderUnderTest]:
    """The reader page, talking to the world's server as its clinic (with a face device
    key), with a registered patient's card in the reader; no reception to post to."""
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, world.clinic_token)
        reader = FrontDeskReader(READER)
        app = create_reader_app(
            reader=reader,
            client=client,
            server_url=server.url,
            device=("face-1", world.device_key),
        )
        under_test = ReaderUnderTest(world, app)
        world.register("yamada-taro")
        under_test.insert("yamada-taro")
        yield under_test
        if under_test.slot is not None:
            under_test.slot.remove()
        under_test.readers.close()
        reader.close()
        client.close()


def test_the_document_tested_is_the_apps(reader_app: ReaderUnderTest) -> None:
    assert reader_app.app.openapi() == DOCUMENT


@schema.parametrize()
@EXAMPLES
def test_every_operation_keeps_its_promises(
    case: schemathesis.Case, reader_app: ReaderUnderTest
) -> None:
    reader_app.validate(case)


def test_every_answer_of_a_valid_request_keeps_its_promises(reader_app: ReaderUnderTest) -> None:
    """The answers a patient's page gets, each as documented."""

    def call(path: str, method: str = "POST", **data: Any) -> Any:
        return reader_app.validate(schema[path][method].Case(**data))

    assert call("/healthz", "GET").status_code == 200
    assert call("/readyz", "GET").json()["status"] == "ready"
    assert call("/api/status", "GET").json()["state"] == "card"
    card = call("/api/card", "GET").json()
    assert (card["credential"], card["tries_left"], card["pin"], card["face"]) == (
        "card", 3, True, True
    )  # fmt: skip
    wrong = call("/api/pin", body={"pin": "9999"})
    assert (wrong.status_code, wrong.json()["failure"]["kind"]) == (409, "wrong-pin")
    assert call("/api/pin", body={"pin": PIN}).json() == {"ok": True}
    checked = call("/api/check", body={"mode": "pin", "pin": PIN, "consents": CONSENTS})
    assert checked.json()["outcome"] == "answered"
    assert call("/api/check", body={"mode": "face", "consents": CONSENTS}).status_code == 200


MALFORMED = [
    ("/api/pin", {"pin": "\uff11\uff12\uff13\uff14"}, "a PIN of full-width digits"),
    ("/api/pin", {"pin": "12345"}, "a PIN of five digits"),
    ("/api/check", {"mode": "pin", "pin": "\u0661\u0662\u0663\u0664", "consents": CONSENTS},
     "a PIN of other digits"),
    ("/api/check", {"mode": "visual", "consents": CONSENTS}, "a visual check (not here)"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "what"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_what_the_reader_refuses_as_malformed_the_document_calls_invalid(
    reader_app: ReaderUnderTest, path: str, body: dict[str, Any], what: str
) -> None:
    assert not document_accepts(DOCUMENT, path, body), what
    answer = TestClient(reader_app.app).post(path, json=body)
    assert (answer.status_code, answer.json()["failure"]["kind"]) == (422, "bad-input")
    assert reader_app.tries_left() == 3  # no PIN was tried


def test_the_requests_the_reader_page_sends_are_valid_by_the_document() -> None:
    sent = [
        ("/api/pin", {"pin": PIN}),
        ("/api/check", {"mode": "pin", "pin": PIN, "consents": CONSENTS}),
        ("/api/check", {"mode": "face", "consents": CONSENTS}),
    ]
    for path, body in sent:
        assert document_accepts(DOCUMENT, path, body), (path, body)


def test_the_answers_without_a_card_keep_their_promises(reader_app: ReaderUnderTest) -> None:
    assert reader_app.slot is not None
    reader_app.slot.remove()
    reader_app.slot = None
    answers = [
        reader_app.validate(schema["/api/card"]["GET"].Case()),
        reader_app.validate(schema["/api/pin"]["POST"].Case(body={"pin": PIN})),
        reader_app.validate(
            schema["/api/check"]["POST"].Case(body={"mode": "face", "consents": CONSENTS})
        ),
    ]
    for answer in answers:
        assert answer.status_code == 409
        assert answer.json()["failure"]["kind"] in ("no-card", "card-removed")


def test_a_request_that_does_not_match_is_refused_without_its_values(
    reader_app: ReaderUnderTest,
) -> None:
    answer = reader_app.validate(schema["/api/pin"]["POST"].Case(body={"pin": "98765"}))
    failure = answer.json()["failure"]
    assert (answer.status_code, failure["kind"]) == (422, "bad-input")
    assert "pin" in failure["message_en"] and "98765" not in answer.text
