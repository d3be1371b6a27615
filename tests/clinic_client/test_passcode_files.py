"""目視確認用パスコード取得 through the folders (OQS-IF-049/050; the file name
`OQSsipcd01req_<id>.xml` is chosen, unconfirmed): answered with the server's passcode for
one visual check at the clinic, in the request's encoding; a server refusal is an error
answer; the passcode never reaches the connector's log."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from sqlalchemy import select

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.names import VISUAL_PASSCODE_KIND, RequestKind, RequestName
from clinic_client.connector.spool import Spool
from qualification_server.cards.passcodes import passcode_digest
from qualification_server.cards.proofs import Method, device_message
from qualification_server.models import VisualPasscode
from tests.support.world import World, sign_with_card

from .conftest import AnswerFile, read_answer, request_file

pytestmark = pytest.mark.db

NAME = f"{VISUAL_PASSCODE_KIND}req_p1.xml"


def drop(spool: Spool, client: QualificationClient, name: str, data: bytes) -> AnswerFile:
    (spool.req / name).write_bytes(data)
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    return read_answer(spool.res / name.replace("req_", "res_"))


def test_the_passcode_file_is_its_own_kind() -> None:
    parsed = RequestName.parse("OQSsipcd01req_desk-7.xml")
    assert (parsed.kind, parsed.request_id) == (RequestKind.VISUAL_PASSCODE, "desk-7")
    assert parsed.answer_name == "OQSsipcd01res_desk-7.xml"


@pytest.mark.parametrize("encoding", ["UTF-8", "Shift_JIS"])
def test_a_passcode_file_is_answered_with_a_passcode_of_the_clinic(
    world: World, spool: Spool, client: QualificationClient, encoding: str
) -> None:
    answer = drop(spool, client, NAME, request_file(encoding=encoding, identifier="pc-1"))
    assert answer.prolog_encoding == encoding
    assert answer.text("MessageHeader/SegmentOfResult") == "1"
    assert answer.text("MessageHeader/MedicalInstitutionCode") == "1310000017"
    assert answer.text("MessageHeader/ArbitraryFileIdentifier") == "pc-1"
    assert answer.text("MessageHeader/CharacterCodeIdentifier") == (
        "1" if encoding == "Shift_JIS" else "0"
    )
    code = answer.text("MessageBody/VisualConfirmationPasscode") or ""
    assert re.fullmatch(r"[0-9]{8}", code)
    until = answer.text("MessageBody/VisualConfirmationPasscodeExpirationTime") or ""
    assert re.fullmatch(r"[0-9]{14}", until)
    with world.deps.sessions() as session:
        (row,) = session.scalars(select(VisualPasscode)).all()
    assert row.digest == passcode_digest(world.deps.settings.challenge_key_bytes, code)


def test_the_files_passcode_answers_a_visual_check(
    world: World, spool: Spool, client: QualificationClient
) -> None:
    world.register("yamada-taro")
    code = drop(spool, client, NAME, request_file()).text("MessageBody/VisualConfirmationPasscode")
    challenge = world.challenge()
    cert_b64, _ = sign_with_card(world.card("yamada-taro"), challenge)
    message = device_message(base64.b64decode(challenge), base64.b64decode(cert_b64), Method.VISUAL)
    proof = {
        "method": "visual",
        "device_id": "face-1",
        "signature": base64.b64encode(world.device_key.sign(message)).decode(),
        "passcode": code,
    }
    response = world.client.post(
        "/v1/eligibility/card",
        json={"challenge": challenge, "certificate": cert_b64, "proof": proof},
        headers=world.headers(),
    )
    assert response.status_code == 200, response.text


def test_a_refused_passcode_request_is_an_error_answer(world: World, spool: Spool) -> None:
    wrong = QualificationClient("http://testserver", "1310000017.wrong", http=world.client)
    answer = drop(spool, wrong, NAME, request_file())
    assert answer.text("MessageHeader/SegmentOfResult") == "9"
    assert answer.text("MessageHeader/ErrorCode") == "Q5001"
    assert answer.text("MessageBody/ProcessingResultStatus") == "2"


def test_a_malformed_passcode_file_is_refused_by_the_connector(
    spool: Spool, client: QualificationClient
) -> None:
    answer = drop(spool, client, NAME, b"<XmlMsg><MessageHeader>")
    assert answer.text("MessageHeader/ErrorCode") == "C1001"
    assert (spool.rejected / NAME).exists()


def test_the_passcode_stays_out_of_the_connectors_log(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="clinic_client"):
        code = drop(spool, client, NAME, request_file()).text(
            "MessageBody/VisualConfirmationPasscode"
        )
    assert code and code not in caplog.text
    assert "OQSsipcd01" in caplog.text
