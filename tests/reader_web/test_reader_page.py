"""The patient-facing reader page, in a real Chromium over the real reader stack and a real
qualification server: each screen from the card placed to 受付完了 or a failure with a way
on, and the check-in it posts to the reception (never the PIN)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from card_reader.issuance.residents import Resident
from clinic_client.checkins import CheckIn
from qualification_server.contract.lockouts import FACE_FAILURE_LIMIT
from tests.support.cards import PIN
from tests.support.lockouts import fail_face
from tests.support.reader_page import RECEPTION_KEY, ReaderPage

pytestmark = [pytest.mark.db, pytest.mark.pcsc]
WRONG = "9876"
LOG_DIR = Path(__file__).resolve().parents[2] / "var" / "test-logs"


def posted(page: ReaderPage, count: int = 1) -> list[CheckIn]:
    assert len(page.received.bodies) == count, page.received.bodies
    assert page.received.authorizations == [f"Bearer {RECEPTION_KEY}"] * count
    return [CheckIn.model_validate_json(body) for body in page.received.bodies]


def no_pin_anywhere(page: ReaderPage, caplog: pytest.LogCaptureFixture, *pins: str) -> None:
    """Neither PIN in a posted body, a captured log record or the run's log files."""
    texts = [*page.received.bodies, caplog.text]
    texts += [p.read_text("utf-8", "replace") for p in LOG_DIR.glob("*.log")]
    for pin in pins:
        # the PIN as a token of its own: not the first digits of a file's hash (`file=9876b0…`)
        alone = re.compile(rf"(?<![0-9A-Za-z]){pin}(?![0-9A-Za-z])")
        for text in texts:
            assert not alone.search(text), alone.search(text)
            assert pin.encode().hex().upper() not in text.upper()  # nor as an APDU's bytes


def place(page: ReaderPage, label: str) -> None:
    page.insert(label)
    page.screen("method")


def test_a_pin_check_goes_from_the_keypad_through_the_consents_to_done(
    reader_page: ReaderPage, caplog: pytest.LogCaptureFixture
) -> None:
    page = reader_page
    page.screen("idle")
    expect(page.page.locator("#s-idle h1")).to_have_text("マイナンバーカードを置いてください")
    page.shot("01-idle")
    page.world.register("yamada-taro")
    place(page, "yamada-taro")
    expect(page.page.locator("#m-pin")).to_be_visible()
    expect(page.page.locator("#m-face")).to_be_visible()
    page.shot("02-method")
    page.page.click("#m-pin")
    page.screen("pin")
    expect(page.page.locator("#pin-tries")).to_contain_text("あと3回")
    page.type_pin("12")
    expect(page.page.locator("#pin-dots span.on")).to_have_count(2)
    expect(page.page.locator("#pin-ok")).to_be_disabled()
    page.shot("03-keypad-two-digits")
    page.page.click("#pin-clear")  # 訂正
    expect(page.page.locator("#pin-dots span.on")).to_have_count(0)
    page.type_pin(PIN)
    expect(page.page.locator("#pin-dots span.on")).to_have_count(4)
    assert PIN not in page.page.locator("#s-pin").inner_text()  # masked
    page.page.click("#pin-ok")
    page.screen("consent")
    expect(page.page.locator("#consent-title")).to_have_text("診療・薬剤情報の提供")
    page.shot("04-consent-medication")
    page.page.click("#consent-yes")
    expect(page.page.locator("#consent-title")).to_have_text("特定健診情報の提供")
    page.shot("05-consent-checkups")
    page.page.click("#consent-no")
    expect(page.page.locator("#consent-title")).to_have_text("限度額情報の提供")
    page.shot("06-consent-limit")
    page.page.click("#consent-yes")
    expect(page.page.locator("#consent-title")).to_have_text("電子処方箋")
    expect(page.page.locator("#consent-yes")).to_have_text("発行を希望する")
    page.shot("07-consent-prescription")
    page.page.click("#consent-yes")
    page.screen("done")
    done = page.page.locator("#s-done")
    expect(done.locator("h1")).to_have_text("受付が完了しました")
    expect(done).to_contain_text("受付でお待ちください")
    expect(page.page.locator("#done-reception")).to_be_hidden()
    assert "山田" not in page.page.inner_text("body")  # no personal details on the reader
    page.shot("08-done")

    (record,) = posted(page)
    assert record.method == "pin" and record.outcome == "answered"
    assert record.credential == "card" and record.failure is None
    assert record.consents.model_dump() == {
        "medication": True, "checkups": False, "limit": True, "prescription": "electronic"
    }  # fmt: skip
    assert record.checked_at.utcoffset() == dt.timedelta(hours=9)
    assert record.answer is not None
    body = record.answer["MessageBody"]
    assert body["PrescriptionIssueSelect"] == "1"
    (result,) = body["ResultList"]["ResultOfQualificationConfirmation"]
    assert result["PharmacistsInfoConsFlg"] == "1"
    assert result["SpecificHealthCheckupsInfoConsFlg"] == "0"
    assert result["LimitApplicationCertificateRelatedConsFlg"] == "1"
    assert set(json.loads(page.received.bodies[0])) == {
        "id", "checked_at", "method", "outcome", "credential", "consents", "answer", "failure"
    }  # fmt: skip
    assert "+09:00" in json.loads(page.received.bodies[0])["checked_at"]

    # the next patient starts clean: the card leaves, the page is idle again
    page.remove()
    page.screen("idle")
    no_pin_anywhere(page, caplog, PIN)


def test_a_wrong_pin_says_the_tries_left_and_a_blocked_one_is_not_offered_again(
    reader_page: ReaderPage, caplog: pytest.LogCaptureFixture
) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    place(page, "yamada-taro")
    page.page.click("#m-pin")
    for left in (2, 1):
        page.type_pin(WRONG)
        page.page.click("#pin-ok")
        expect(page.page.locator("#pin-error")).to_have_text(
            f"暗証番号が違います。残り{left}回です。"
        )
        expect(page.page.locator("#pin-tries")).to_contain_text(f"あと{left}回")
        expect(page.page.locator("#pin-dots span.on")).to_have_count(0)
        if left == 2:
            page.shot("09-wrong-pin")
    page.type_pin(WRONG)
    page.page.click("#pin-ok")
    page.screen("failure")
    failure = page.page.locator("#s-failure")
    expect(failure.locator("h1")).to_have_text("暗証番号がロックされています")
    expect(page.page.locator("#failure-face")).to_be_visible()
    expect(page.page.locator("#failure-pin")).to_be_hidden()
    expect(page.page.locator("#failure-retry")).to_be_visible()
    expect(failure).not_to_contain_text("目視")  # not offered on the reader
    page.shot("10-pin-blocked-now")

    # the blocked card put back: PIN never offered, the page says why and offers the face
    page.remove()
    page.screen("idle")
    place(page, "yamada-taro")
    expect(page.page.locator("#m-pin")).to_be_hidden()
    expect(page.page.locator("#m-face")).to_be_visible()
    expect(page.page.locator("#method-note")).to_contain_text("暗証番号がロックされている")
    expect(page.page.locator("body")).not_to_contain_text("残り0回")
    page.shot("11-blocked-card-placed")
    page.page.click("#m-face")
    page.consent_all(False, False, False, False)
    page.screen("done")
    (record,) = posted(page)  # the wrong PINs were no finished check
    assert record.method == "face" and record.outcome == "answered"
    assert record.consents.prescription == "paper"
    assert record.answer is not None
    assert record.answer["MessageBody"]["PrescriptionIssueSelect"] == "2"
    no_pin_anywhere(page, caplog, WRONG)


def test_a_face_card_is_checked_by_face_only(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    page = reader_page
    face_only = residents["yamada-taro"].model_copy(
        update={"label": "face-only", "card": "face_card"}
    )
    since = page.world.clock.now - dt.timedelta(minutes=1)
    page.world.issuer.issue_card(face_only, pin=None, not_before=since)
    page.world.register("yamada-taro")
    place(page, "face-only")
    expect(page.page.locator("#m-pin")).to_be_hidden()
    expect(page.page.locator("#m-face")).to_be_visible()
    expect(page.page.locator("#method-note")).to_contain_text("顔認証マイナンバーカード")
    page.shot("12-face-card")
    page.page.click("#m-face")
    page.consent_all(True, True, True, True)
    page.screen("done")
    (record,) = posted(page)
    assert (record.method, record.credential) == ("face", "face_card")


def test_a_smartphone_is_checked_with_its_pin_only(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    page = reader_page
    since = page.world.clock.now - dt.timedelta(minutes=1)
    page.world.issuer.issue_smartphone(residents["yamada-taro"], pin=PIN, not_before=since)
    page.world.register("yamada-taro")
    place(page, "yamada-taro-phone")
    expect(page.page.locator("#m-face")).to_be_hidden()
    expect(page.page.locator("#m-pin")).to_be_visible()
    expect(page.page.locator("#method-note")).to_contain_text(
        "スマートフォンは暗証番号で確認します"
    )
    page.shot("13-smartphone")
    page.page.click("#m-pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, False, False, False)
    page.screen("done")
    (record,) = posted(page)
    assert (record.method, record.credential) == ("pin", "smartphone")


def test_a_card_removed_mid_check_has_its_own_screen_and_the_next_card_starts_clean(
    reader_page: ReaderPage,
) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    place(page, "yamada-taro")
    page.page.click("#m-pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.screen("consent")
    page.page.click("#consent-yes")
    page.remove()
    page.screen("removed")
    removed = page.page.locator("#s-removed")
    expect(removed.locator("h1")).to_have_text("カードが取り外されました")
    expect(page.page.locator("body")).not_to_contain_text("カードを読み取れません")
    page.shot("14-card-removed")
    place(page, "yamada-taro")  # the next card: its own choice, nothing of the last
    expect(page.page.locator("#pin-dots span")).to_have_count(0)
    page.page.click("#m-face")
    page.consent_all(False, False, False, True)
    page.screen("done")
    (record,) = posted(page)
    assert record.consents.medication is False  # not the removed patient's 同意する


def test_an_unregistered_card_fails_with_a_way_on_and_is_logged_for_it(
    reader_page: ReaderPage, caplog: pytest.LogCaptureFixture
) -> None:
    page = reader_page
    place(page, "yamada-taro")  # never registered
    page.page.click("#m-pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, True, True, True)
    page.screen("failure")
    failure = page.page.locator("#s-failure")
    expect(failure.locator("h1")).to_have_text("保険証としての利用登録がされていません")
    expect(page.page.locator("#failure-retry")).to_be_visible()
    expect(page.page.locator("#failure-face")).to_be_hidden()  # no other method helps
    expect(failure).to_contain_text("受付にお声がけください")
    expect(failure).not_to_contain_text("この端末で登録")  # the reader page registers nothing
    page.shot("15-not-registered")
    (record,) = posted(page)
    assert record.outcome == "failed" and record.answer is None
    assert record.failure is not None and record.failure.kind == "not-registered"
    assert record.failure.code is not None and record.failure.code.startswith("Q")
    refusals = [r for r in caplog.records if r.name == "clinic_client.reader_web"]
    assert any("kind=not-registered" in r.getMessage() and r.levelno == logging.WARNING
               for r in refusals)  # fmt: skip
    assert any(record.failure.code in r.getMessage() for r in refusals)
    no_pin_anywhere(page, caplog, PIN)
    # やり直す: back to the choice, with the card still there
    page.page.click("#failure-retry")
    page.screen("method")


@pytest.mark.parametrize("reader_page", ["no-device"], indirect=True)
def test_without_a_device_key_face_is_not_offered_and_a_face_card_is_no_dead_end(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    place(page, "yamada-taro")
    expect(page.page.locator("#m-face")).to_be_hidden()
    expect(page.page.locator("#m-pin")).to_be_visible()
    expect(page.page.locator("#method-note")).to_contain_text("この端末では顔認証を利用できません")
    page.shot("16-no-device-key")
    page.remove()
    page.screen("removed")  # taken off before a check: said so, until the next card
    face_only = residents["yamada-taro"].model_copy(
        update={"label": "face-only", "card": "face_card"}
    )
    since = page.world.clock.now - dt.timedelta(minutes=1)
    page.world.issuer.issue_card(face_only, pin=None, not_before=since)
    place(page, "face-only")
    expect(page.page.locator("#m-face")).to_be_hidden()
    expect(page.page.locator("#m-pin")).to_be_hidden()
    expect(page.page.locator("#method-none")).to_contain_text("受付にお声がけください")
    page.shot("17-no-device-key-face-card")


def test_readiness(reader_page: ReaderPage) -> None:
    import httpx

    assert httpx.get(f"{reader_page.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{reader_page.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["server"] == "reachable"
    assert ready.json()["reader"] in ("empty", "card")


@pytest.mark.parametrize("reader_page", ["real-reception"], indirect=True)
def test_the_check_in_reaches_the_real_reception_terminal(
    reader_page: ReaderPage, caplog: pytest.LogCaptureFixture
) -> None:
    import httpx

    page = reader_page
    page.world.register("yamada-taro")
    place(page, "yamada-taro")
    page.page.click("#m-pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, True, False, True)
    page.screen("done")
    expect(page.page.locator("#done-reception")).to_be_hidden()  # the reception took it
    listing = httpx.get(f"{page.reception_url}/api/check-ins").json()["check_ins"]
    (shown,) = listing
    assert shown["outcome"] == "answered" and shown["method"] == "pin"
    assert shown["consents"] == {
        "medication": True, "checkups": True, "limit": False, "prescription": "electronic"
    }  # fmt: skip
    assert f'"{PIN}"' not in json.dumps(shown)
    no_pin_anywhere(page, caplog, PIN)


def test_a_check_whose_card_is_gone_is_said_removed_and_posted_as_failed(
    reader_page: ReaderPage, caplog: pytest.LogCaptureFixture
) -> None:
    """The card leaves between the last consent and the card's answer: the check fails as
    `card-removed` (not the generic card error), and the reception hears of it."""
    import httpx

    consents = {"medication": True, "checkups": False, "limit": False, "prescription": "paper"}
    answer = httpx.post(
        f"{reader_page.url}/api/check", json={"mode": "pin", "pin": PIN, "consents": consents}
    )
    assert answer.status_code == 409
    assert answer.json()["failure"]["kind"] == "card-removed"
    assert "カードが取り外されました" in answer.json()["failure"]["message_ja"]
    (record,) = posted(reader_page)
    assert record.outcome == "failed" and record.failure is not None
    assert record.failure.kind == "card-removed"
    no_pin_anywhere(reader_page, caplog, PIN)


def test_another_site_cannot_spend_the_pin_tries(reader_page: ReaderPage) -> None:
    import httpx

    refused = httpx.post(
        f"{reader_page.url}/api/pin",
        json={"pin": WRONG},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert refused.status_code == 403
    assert refused.json()["failure"]["kind"] == "refused"
    invalid = httpx.post(f"{reader_page.url}/api/pin", json={"pin": "12a4"})
    assert invalid.status_code == 422 and "12a4" not in invalid.text  # values never echoed


def test_a_face_locked_card_is_sent_to_the_pin(reader_page: ReaderPage) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    fail_face(page.world, "yamada-taro", FACE_FAILURE_LIMIT)
    place(page, "yamada-taro")
    page.page.click("#m-face")
    page.consent_all(True, False, False, False)
    page.screen("failure")
    failure = page.page.locator("#s-failure")
    expect(failure.locator("h1")).to_have_text("顔認証がロックされています")
    expect(page.page.locator("#failure-face")).to_be_hidden()
    expect(page.page.locator("#failure-pin")).to_be_visible()
    page.shot("18-face-locked")
    page.page.click("#failure-pin")
    page.screen("pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, False, False, False)
    page.screen("done")
    first, second = posted(page, 2)
    assert first.failure is not None and first.failure.code == "Q2008"
    assert (second.method, second.outcome) == ("pin", "answered")
