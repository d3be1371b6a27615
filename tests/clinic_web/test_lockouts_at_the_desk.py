"""The lockouts at the reception, in a real Chromium and through the real reader stack: a
visual check gets its 目視確認用パスコード first and shows it; a card whose face matching is
locked is offered the PIN and the visual check; a failed face match is reported."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import select

from card_reader.pcscd import Pcscd
from clinic_client.api import QualificationClient
from clinic_client.desk import check_card, report_face_failure
from clinic_client.reader import FrontDeskReader
from clinic_client.web.app import create_clinic_app
from qualification_server.contract.lockouts import FACE_FAILURE_LIMIT
from qualification_server.contract.schemas import Consents
from qualification_server.models import FaceFailures, VisualPasscode
from tests.support.desk import READER, Desk
from tests.support.lockouts import fail_face

# The card check moved from this page to the patient-facing reader (clinic_client/reader_web,
# `clinic reader-serve`); these drive it on the old desk page and wait to be ported there
# (tests/reader_web). The lookup, the batch and the headers are in test_reception.py.
MOVED = "the card check moved to the reader page (clinic_client/reader_web)"
pytestmark = [pytest.mark.db, pytest.mark.pcsc, pytest.mark.skip(reason=MOVED)]


def wait_for_mode_choice(desk: Desk) -> None:
    expect(desk.page.locator("#reader")).to_have_attribute("data-state", "card")
    expect(desk.page.locator("#step-mode")).to_be_visible()


def passcodes(desk: Desk) -> list[VisualPasscode]:
    with desk.world.deps.sessions() as session:
        return list(session.scalars(select(VisualPasscode)))


def test_a_visual_check_shows_its_passcode_then_answers(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-visual")
    step = desk.page.locator("#step-visual")
    expect(step).to_be_visible()
    expect(desk.page.locator("#passcode")).to_have_text(re.compile(r"^[0-9]{8}$"))
    expect(desk.page.locator("#passcode-until")).to_contain_text("まで有効")
    desk.shot("lockouts-01-visual-passcode")
    (issued,) = passcodes(desk)
    assert issued.used_at is None  # shown, not yet used
    desk.page.click("#visual-ok")
    expect(desk.page.locator("#step-result .badge")).to_have_text("有効")
    (used,) = passcodes(desk)
    assert used.used_at is not None


def test_going_back_from_the_visual_step_checks_nothing(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-visual")
    desk.page.click("#visual-cancel")
    expect(desk.page.locator("#step-mode")).to_be_visible()
    assert [p.used_at for p in passcodes(desk)] == [None]


def test_a_face_locked_card_is_offered_the_pin_and_the_visual_check(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    fail_face(desk.world, "yamada-taro", FACE_FAILURE_LIMIT)
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-face")
    failure = desk.page.locator("#step-failure")
    expect(failure.locator("h2")).to_have_text("顔認証がロックされています")
    expect(failure).to_contain_text("Q2008")
    expect(failure.get_by_role("button", name="暗証番号で確認")).to_be_visible()
    desk.shot("lockouts-02-face-locked")
    failure.get_by_role("button", name="目視で確認").click()
    desk.page.click("#visual-ok")
    expect(desk.page.locator("#step-result .badge")).to_have_text("有効")
    with desk.world.deps.sessions() as session:  # a visual check unlocks nothing
        assert session.scalar(select(FaceFailures.failures)) == FACE_FAILURE_LIMIT


def test_the_desk_reports_a_failed_face_match_of_the_card_in_its_reader(
    desk: Desk, pcscd: Pcscd
) -> None:
    desk.insert("yamada-taro")
    client = QualificationClient("http://unused", desk.world.clinic_token, http=desk.world.client)
    device = ("face-1", desk.world.device_key)
    reader = FrontDeskReader(READER)
    try:
        answer = report_face_failure(reader, client, device=device)
    finally:
        reader.close()
    assert (answer.failures, answer.remaining, answer.locked) == (1, FACE_FAILURE_LIMIT - 1, False)


def test_a_scripted_visual_check_gets_its_own_passcode(desk: Desk, pcscd: Pcscd) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    client = QualificationClient("http://unused", desk.world.clinic_token, http=desk.world.client)
    reader = FrontDeskReader(READER)
    try:
        answer, _ = check_card(
            reader, client, mode="visual", pin=None, consents=Consents(),
            device=("face-1", desk.world.device_key),
        )  # fmt: skip
    finally:
        reader.close()
    assert answer.MessageBody.QualificationValidity == "1"
    assert [p.used_at is not None for p in passcodes(desk)] == [True]


def test_the_passcode_route_answers_a_failure_when_the_server_is_away() -> None:
    away = QualificationClient("http://127.0.0.1:9", "1310000017.x", timeout_s=1)
    reader = FrontDeskReader(READER)
    try:
        app = create_clinic_app(reader=reader, client=away)
        answer = TestClient(app, base_url="http://127.0.0.1").post("/api/visual-passcode")
    finally:
        reader.close()
    assert (answer.status_code, answer.json()["failure"]["kind"]) == (503, "server-unreachable")
