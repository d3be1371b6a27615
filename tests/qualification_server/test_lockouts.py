"""Lockouts: failed face matches counted per card (face mode refused from the 10th in a row
on, Q2008), and the 目視確認用パスコード a visual check must carry (OQS-IF-049/050)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from qualification_server.access_log.housekeeping import Housekeeper
from qualification_server.cards.passcodes import passcode_digest
from qualification_server.cards.proofs import Method, device_message
from qualification_server.contract.codes import CATALOGUE, Code
from qualification_server.contract.lockouts import FACE_FAILURE_LIMIT
from qualification_server.contract.presence import face_failure_message
from qualification_server.models import AccessRecord, FaceFailures, VisualPasscode
from tests.support.lockouts import fail_face, failure_report, report
from tests.support.world import CLINIC, World, sign_with_card

pytestmark = pytest.mark.db

Body = dict[str, Any]


def check(world: World, body: Body, token: str | None = None) -> tuple[int, Body]:
    response = world.client.post("/v1/eligibility/card", json=body, headers=world.headers(token))
    return response.status_code, response.json()


def code_of(answer: Body) -> str:
    return str(answer["error"]["code"])


def passcode(world: World, token: str | None = None) -> str:
    response = world.client.post("/v1/visual-passcodes", json={}, headers=world.headers(token))
    assert response.status_code == 200, response.text
    return str(response.json()["MessageBody"]["VisualConfirmationPasscode"])


def visual_body(world: World, label: str, code: str | None) -> Body:
    challenge = world.challenge()
    cert_b64, _ = sign_with_card(world.card(label), challenge)
    message = device_message(base64.b64decode(challenge), base64.b64decode(cert_b64), Method.VISUAL)
    proof: Body = {
        "method": "visual",
        "device_id": "face-1",
        "signature": base64.b64encode(world.device_key.sign(message)).decode(),
    }
    if code is not None:
        proof["passcode"] = code
    return {"challenge": challenge, "certificate": cert_b64, "proof": proof}


def records(world: World) -> list[AccessRecord]:
    with world.deps.sessions() as session:
        return list(session.scalars(select(AccessRecord).order_by(AccessRecord.id)))


# --- failed face matches -----------------------------------------------------------------------


def test_a_failed_face_match_is_counted_and_recorded_like_a_refusal(world: World) -> None:
    world.register("yamada-taro")
    status, answer = report(world, failure_report(world, "yamada-taro"))
    assert status == 200, answer
    assert answer == {"code": "Q2009", "failures": 1, "remaining": 9, "locked": False}
    last = records(world)[-1]
    assert (last.clinic_code, last.method) == (CLINIC, "face")
    assert json.loads(last.answer) == {"error": "Q2009", "face_failures": 1}
    asked = json.loads(last.request)
    assert asked["face_match"] == "failed" and asked["device_id"] == "face-1"
    assert set(asked["certificate"]) >= {"issuer", "serial"}
    assert last.person_ref is not None  # the holder sees it in the portal's history


def test_the_holder_sees_the_failed_match_in_the_portal(world: World) -> None:
    world.register("yamada-taro")
    assert report(world, failure_report(world, "yamada-taro"))[0] == 200
    proof = world.proof("yamada-taro", world.portal_challenge())
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert response.status_code == 200, response.text
    (seen,) = [e for e in response.json()["entries"] if e["clinic_code"] == CLINIC]
    assert (seen["method"], seen["outcome"], seen["clinic_name"]) == (
        "face",
        "Q2009",
        "霞が関クリニック",
    )


def test_face_mode_is_refused_from_the_tenth_failure_on(world: World) -> None:
    world.register("yamada-taro")
    answer = fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT - 1)
    assert (answer["failures"], answer["remaining"], answer["locked"]) == (9, 1, False)
    assert check(world, world.face_body("yamada-taro"))[0] == 200  # the 9th still lets it
    fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT)
    with world.deps.sessions() as session:
        (row,) = session.scalars(select(FaceFailures)).all()
    assert row.failures == FACE_FAILURE_LIMIT
    status, refused = check(world, world.face_body("yamada-taro"))
    assert (status, code_of(refused)) == (403, "Q2008")
    assert refused["error"]["message"] == CATALOGUE[Code.FACE_LOCKED].front_desk
    assert "暗証番号または目視確認" in refused["error"]["message"]
    assert json.loads(records(world)[-1].answer) == {"error": "Q2008"}


def test_the_tenth_failure_says_the_card_is_locked(world: World) -> None:
    answer = fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT)
    assert (answer["failures"], answer["remaining"], answer["locked"]) == (10, 0, True)


def test_a_locked_cards_further_failures_are_refused_and_not_counted(world: World) -> None:
    fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT)
    status, answer = report(world, failure_report(world, "yamada-taro"))
    assert (status, code_of(answer)) == (403, "Q2008")
    with world.deps.sessions() as session:
        assert session.scalar(select(FaceFailures.failures)) == FACE_FAILURE_LIMIT


def test_the_count_is_per_card(world: World) -> None:
    world.register("yamada-taro")
    world.register("suzuki-hanako")
    fail_face(world, "suzuki-hanako", FACE_FAILURE_LIMIT)
    assert check(world, world.face_body("yamada-taro"))[0] == 200
    assert code_of(check(world, world.face_body("suzuki-hanako"))[1]) == "Q2008"


def test_a_pin_check_unlocks_face_mode(world: World) -> None:
    world.register("yamada-taro")
    fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT)
    status, _ = world.check("yamada-taro")
    assert status == 200
    with world.deps.sessions() as session:
        assert session.scalars(select(FaceFailures)).all() == []
    assert check(world, world.face_body("yamada-taro"))[0] == 200


def test_an_answered_face_check_ends_the_row_of_failures(world: World) -> None:
    world.register("yamada-taro")
    fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT - 1)
    assert check(world, world.face_body("yamada-taro"))[0] == 200
    assert fail_face(world, "yamada-taro", 1)["failures"] == 1


def test_a_refused_pin_check_unlocks_nothing(world: World) -> None:
    fail_face(world, "tanaka-ichiro", FACE_FAILURE_LIMIT)  # never registered: Q3001
    status, answer = world.check("tanaka-ichiro")
    assert (status, code_of(answer)) == (404, "Q3001")
    with world.deps.sessions() as session:
        assert session.scalar(select(FaceFailures.failures)) == FACE_FAILURE_LIMIT


def test_a_visual_check_resets_no_counter(world: World) -> None:
    world.register("yamada-taro")
    fail_face(world, "yamada-taro", FACE_FAILURE_LIMIT)
    status, answer = check(world, visual_body(world, "yamada-taro", passcode(world)))
    assert status == 200, answer
    assert code_of(check(world, world.face_body("yamada-taro"))[1]) == "Q2008"


def test_a_failure_report_answers_one_failure_only(world: World) -> None:
    body = failure_report(world, "yamada-taro")
    assert report(world, body)[0] == 200
    status, answer = report(world, body)
    assert (status, code_of(answer)) == (409, "Q2003")
    with world.deps.sessions() as session:
        assert session.scalar(select(FaceFailures.failures)) == 1


def test_a_report_signed_for_another_card_counts_for_none(world: World) -> None:
    body = failure_report(world, "yamada-taro", signed_for="suzuki-hanako")
    status, answer = report(world, body)
    assert (status, code_of(answer)) == (403, "Q2005")
    with world.deps.sessions() as session:
        assert session.scalars(select(FaceFailures)).all() == []


def test_a_report_is_no_proof_and_a_proof_no_report(world: World) -> None:
    world.register("yamada-taro")
    body = failure_report(world, "yamada-taro")
    as_proof = {
        "challenge": body["challenge"],
        "certificate": body["certificate"],
        "proof": {"method": "face", "device_id": "face-1", "signature": body["signature"]},
    }
    assert code_of(check(world, as_proof)[1]) == "Q2005"
    proof = world.face_body("yamada-taro")
    as_report = {
        "challenge": proof["challenge"],
        "certificate": proof["certificate"],
        "device_id": "face-1",
        "signature": proof["proof"]["signature"],
    }
    assert code_of(report(world, as_report)[1]) == "Q2005"


def test_a_clinic_without_the_device_cannot_report(world: World) -> None:
    challenge = world.challenge(token=world.other_clinic_token)
    cert_b64, _ = sign_with_card(world.card("yamada-taro"), challenge)
    message = face_failure_message(base64.b64decode(challenge), base64.b64decode(cert_b64))
    body = {
        "challenge": challenge,
        "certificate": cert_b64,
        "device_id": "face-1",  # the first clinic's reader, not this one's
        "signature": base64.b64encode(world.device_key.sign(message)).decode(),
    }
    status, answer = report(world, body, token=world.other_clinic_token)
    assert (status, code_of(answer)) == (403, "Q2006")


def test_a_report_needs_a_challenge_of_this_clinic(world: World) -> None:
    body = failure_report(world, "yamada-taro")
    status, answer = report(world, body, token=world.other_clinic_token)
    assert (status, code_of(answer)) == (403, "Q2004")


def test_concurrent_reports_each_count_and_stop_at_the_limit(world: World) -> None:
    bodies = [failure_report(world, "yamada-taro") for _ in range(FACE_FAILURE_LIMIT + 2)]
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(status for status, _ in pool.map(lambda b: report(world, b), bodies))
    assert statuses == [200] * FACE_FAILURE_LIMIT + [403, 403]
    with world.deps.sessions() as session:
        assert session.scalar(select(FaceFailures.failures)) == FACE_FAILURE_LIMIT


# --- the 目視確認用パスコード ---------------------------------------------------------------------


def test_a_passcode_is_issued_to_the_clinic_for_a_few_minutes(world: World) -> None:
    response = world.client.post(
        "/v1/visual-passcodes",
        json={"arbitrary_file_identifier": "desk-1"},
        headers=world.headers(),
    )
    assert response.status_code == 200, response.text
    header, body = response.json()["MessageHeader"], response.json()["MessageBody"]
    assert (header["MedicalInstitutionCode"], header["ArbitraryFileIdentifier"]) == (
        CLINIC,
        "desk-1",
    )
    code = body["VisualConfirmationPasscode"]
    assert len(code) == 8 and code.isascii() and code.isdigit()
    until = dt.datetime.strptime(body["VisualConfirmationPasscodeExpirationTime"], "%Y%m%d%H%M%S")
    issued = dt.datetime.strptime(header["ProcessExecutionTime"], "%Y%m%d%H%M%S")
    assert until - issued == dt.timedelta(seconds=world.deps.settings.visual_passcode_ttl_s)


def test_a_passcode_route_needs_a_clinic(world: World) -> None:
    response = world.client.post("/v1/visual-passcodes", json={})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "Q5001")


def test_a_visual_check_with_its_passcode_is_answered_and_uses_it_up(world: World) -> None:
    world.register("yamada-taro")
    code = passcode(world)
    body = visual_body(world, "yamada-taro", code)
    status, answer = check(world, body)
    assert status == 200, answer
    assert records(world)[-1].method == "visual"
    with world.deps.sessions() as session:
        (row,) = session.scalars(select(VisualPasscode)).all()
    assert row.used_at is not None
    assert row.used_by_challenge == json.loads(records(world)[-1].request)["challenge_id"]


def test_a_visual_check_without_a_passcode_is_refused(world: World) -> None:
    world.register("yamada-taro")
    status, answer = check(world, visual_body(world, "yamada-taro", None))
    assert (status, code_of(answer)) == (403, "Q2010")
    assert json.loads(records(world)[-1].answer) == {"error": "Q2010"}


def test_a_passcode_never_issued_is_refused(world: World) -> None:
    world.register("yamada-taro")
    issued = passcode(world)
    other = f"{(int(issued) + 1) % 10**8:08d}"
    status, answer = check(world, visual_body(world, "yamada-taro", other))
    assert (status, code_of(answer)) == (403, "Q2011")


def test_an_expired_passcode_is_refused(world: World) -> None:
    world.register("yamada-taro")
    world.clock.advance(-3600)  # issued an hour ago: expired by the database's clock
    code = passcode(world)
    world.clock.advance(3600)
    status, answer = check(world, visual_body(world, "yamada-taro", code))
    assert (status, code_of(answer)) == (403, "Q2012")


def test_a_passcode_answers_one_visual_check_only(world: World) -> None:
    world.register("yamada-taro")
    code = passcode(world)
    assert check(world, visual_body(world, "yamada-taro", code))[0] == 200
    status, answer = check(world, visual_body(world, "yamada-taro", code))
    assert (status, code_of(answer)) == (409, "Q2013")


def test_another_clinics_passcode_is_refused(world: World) -> None:
    world.register("yamada-taro")
    theirs = passcode(world, token=world.other_clinic_token)
    status, answer = check(world, visual_body(world, "yamada-taro", theirs))
    assert (status, code_of(answer)) == (403, "Q2014")
    with world.deps.sessions() as session:  # and it stays theirs, unused
        (row,) = session.scalars(select(VisualPasscode)).all()
    assert row.used_at is None


def test_a_refused_visual_check_uses_up_its_passcode_and_challenge(world: World) -> None:
    code = passcode(world)  # tanaka never registered: Q3001, and the passcode is spent
    assert code_of(check(world, visual_body(world, "tanaka-ichiro", code))[1]) == "Q3001"
    world.register("yamada-taro")
    assert code_of(check(world, visual_body(world, "yamada-taro", code))[1]) == "Q2013"


def test_a_visual_check_whose_signature_fails_keeps_its_passcode(world: World) -> None:
    world.register("yamada-taro")
    code = passcode(world)
    forged = visual_body(world, "yamada-taro", code)
    forged["proof"]["signature"] = base64.b64encode(bytes(64)).decode()
    assert code_of(check(world, forged)[1]) == "Q2005"
    assert check(world, visual_body(world, "yamada-taro", code))[0] == 200


def test_concurrent_uses_of_one_passcode_answer_once(world: World) -> None:
    world.register("yamada-taro")
    code = passcode(world)
    bodies = [visual_body(world, "yamada-taro", code) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: check(world, b), bodies))
    assert sorted(status for status, _ in answers) == [200, 409, 409, 409]


def test_a_face_check_carrying_a_passcode_is_malformed(world: World) -> None:
    world.register("yamada-taro")
    body = world.face_body("yamada-taro")
    body["proof"]["passcode"] = passcode(world)
    status, answer = check(world, body)
    assert (status, code_of(answer)) == (422, "Q6001")


def test_the_server_keeps_no_passcode_in_the_clear(world: World) -> None:
    code = passcode(world)
    with world.deps.sessions() as session:
        (row,) = session.scalars(select(VisualPasscode)).all()
    assert row.digest == passcode_digest(world.deps.settings.challenge_key_bytes, code)
    assert code.encode() not in row.digest
    assert code not in repr([row.clinic_code, row.used_by_challenge])


def test_passcodes_are_forgotten_a_day_after_they_expire(world: World) -> None:
    world.clock.advance(-2 * 86400)
    passcode(world)
    world.clock.advance(2 * 86400 - 3600)
    passcode(world)  # issued an hour ago, so expired: kept, a reuse is still told as one
    world.clock.advance(3600)
    passcode(world)
    assert Housekeeper(world.deps.sessions).prune_now() == 1
    with world.deps.sessions() as session:
        assert len(session.scalars(select(VisualPasscode)).all()) == 2
