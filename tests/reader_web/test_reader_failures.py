"""The reader page's failure screens, in a real Chromium over the real reader stack: the
certificate revoked or expired, face matching locked by the reader's reports and the way on
with the PIN, no reader and pcscd restarted, the server out of reach, a card pulled while its
PIN is verified, a method the card cannot use tried anyway. Each ends on a screen that says
what happened in the patient's words and offers what helps (another method, やり直す, the
reception), never a dead end; the ones the card check reaches are posted to the reception.

Ported from the reception page's old card-check tests (tests/clinic_web, when that page took
the card): what the reader page does not do (registration, the 目視 check and its passcode,
the answer's details) is not here — see the commit that moved them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from cryptography import x509
from playwright.sync_api import Browser, Page, expect

from card_reader.core.jpki import JpkiFile
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import CardImage, load_image
from card_reader.issuance.residents import Resident
from card_reader.pcscd import Pcscd
from clinic_client.api import QualificationClient
from clinic_client.checkins import CheckIn
from clinic_client.desk import report_face_failure
from clinic_client.reader import FrontDeskReader
from clinic_client.reader_web.app import MAX_REQUEST_BYTES, create_reader_app
from qualification_server.contract.lockouts import FACE_FAILURE_LIMIT
from tests.qualification_server.test_lookups_and_portal import lose
from tests.support.cards import PIN
from tests.support.desk import READER, SCREENSHOTS, ServerThread
from tests.support.ports import free_port
from tests.support.reader_page import (
    RECEPTION_KEY,
    ReaderPage,
    Received,
    _reader_page,
    receiver,
)
from tests.support.world import World

pytestmark = [pytest.mark.db, pytest.mark.pcsc]
WRONG = "9876"


def posted(page: ReaderPage) -> list[CheckIn]:
    assert page.received.authorizations == [f"Bearer {RECEPTION_KEY}"] * len(page.received.bodies)
    return [CheckIn.model_validate_json(body) for body in page.received.bodies]


def shot(page: ReaderPage, name: str) -> None:
    page.shot(f"fail-{name}")  # var/screenshots/reader-fail-<name>.png


def pin_check(page: ReaderPage, label: str, *consents: bool) -> None:
    """Place `label`'s card, check it with the right PIN and answer the consents."""
    page.insert(label)
    page.screen("method")
    page.page.click("#m-pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(*(consents or (True, False, False, False)))


def failure_screen(page: ReaderPage, title: str) -> None:
    page.screen("failure")
    expect(page.page.locator("#failure-title")).to_have_text(title)
    failure = page.page.locator("#s-failure")
    expect(failure).not_to_contain_text("目視")  # staff's check, not the patient's
    expect(failure).to_contain_text("受付にお声がけください")
    expect(page.page.locator("#failure-retry")).to_be_visible()


def auth_serial(world: World, label: str) -> int:
    image = load_image(world.card(label))
    return x509.load_der_x509_certificate(image.jpki_files[JpkiFile.AUTH_CERT]).serial_number


def test_a_revoked_certificate_says_so_with_its_code_and_no_other_method(
    reader_page: ReaderPage,
) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    page.world.issuer.revoke(auth_serial(page.world, "yamada-taro"))
    pin_check(page, "yamada-taro")
    failure_screen(page, "カードの電子証明書が失効しています")
    expect(page.page.locator("#failure-code")).to_have_text("（コード Q1005）")
    text = page.page.locator("#failure-text")  # the patient's words: who to go to
    expect(text).to_contain_text("受付にお声がけください")
    # neither the face nor the PIN gets past a revoked certificate: not offered
    expect(page.page.locator("#failure-face")).to_be_hidden()
    expect(page.page.locator("#failure-pin")).to_be_hidden()
    shot(page, "01-revoked")
    (record,) = posted(page)
    assert record.outcome == "failed" and record.failure is not None
    assert (record.failure.kind, record.failure.code) == ("certificate-revoked", "Q1005")


def test_an_expired_certificate_says_so_with_its_code(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    page = reader_page
    page.world.issuer.issue_card(
        residents["yamada-taro"], pin=PIN, overwrite=True,
        not_before=dt.datetime(2015, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    pin_check(page, "yamada-taro")
    failure_screen(page, "カードの電子証明書の有効期限が切れています")
    expect(page.page.locator("#failure-code")).to_have_text("（コード Q1003）")
    text = page.page.locator("#failure-text")  # the patient's words, not the staff's
    expect(text).not_to_contain_text("ご案内ください")
    expect(text).to_contain_text("市区町村の窓口で更新")
    expect(text).to_contain_text("受付にお声がけください")
    expect(page.page.locator("#failure-face")).to_be_hidden()
    expect(page.page.locator("#failure-pin")).to_be_hidden()
    shot(page, "02-expired")
    (record,) = posted(page)
    assert record.failure is not None
    assert (record.failure.kind, record.failure.code) == ("certificate-expired", "Q1003")


def test_a_certificate_in_its_grace_checks_in_and_the_reception_gets_q1007(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    """Within three months of its expiry a card's certificate still answers the
    qualification (marked Q1007, every viewing consent refused): 受付完了 on the reader, the
    mark in what the reception gets."""
    page = reader_page
    page.world.register("yamada-taro")
    # a month past the expiry of a certificate that was valid when it was issued (a path in
    # grace is validated as of its notAfter: the test CA is no older than the session)
    expiry = page.world.clock.now + dt.timedelta(days=1)
    page.world.issuer.issue_card(residents["yamada-taro"], pin=PIN, overwrite=True,
                                 not_after=expiry)  # fmt: skip
    page.world.clock.now = expiry + dt.timedelta(days=30)
    pin_check(page, "yamada-taro", True, True, True, True)
    page.screen("done")
    shot(page, "10-grace-done")
    (record,) = posted(page)
    assert record.outcome == "answered" and record.answer is not None
    body = record.answer["MessageBody"]
    assert (body["ProcessingResultCode"], body["QualificationValidity"]) == ("Q1007", "1")
    (result,) = body["ResultList"]["ResultOfQualificationConfirmation"]
    assert result["PharmacistsInfoConsFlg"] == "0"  # asked for, refused in grace


def test_face_matching_locks_at_the_tenth_reported_failure_and_the_pin_unlocks_it(
    reader_page: ReaderPage,
) -> None:
    """The terminal's face reader reports each failed match of the card on it (through the
    reader stack, signed with the device key): the tenth locks face mode (Q2008), the page
    sends the patient to the PIN, and the answered PIN check lifts the lock."""
    page = reader_page
    page.world.register("yamada-taro")
    page.insert("yamada-taro")
    page.screen("method")
    client = QualificationClient("http://unused", page.world.clinic_token, http=page.world.client)
    device = ("face-1", page.world.device_key)
    reader = FrontDeskReader(READER)
    try:
        answers = [
            report_face_failure(reader, client, device=device) for _ in range(FACE_FAILURE_LIMIT)
        ]
    finally:
        reader.close()
    assert [a.failures for a in answers] == list(range(1, FACE_FAILURE_LIMIT + 1))
    assert [a.locked for a in answers] == [False] * (FACE_FAILURE_LIMIT - 1) + [True]
    assert answers[-2].remaining == 1

    page.page.click("#m-face")
    page.consent_all(True, False, False, False)
    failure_screen(page, "顔認証がロックされています")
    expect(page.page.locator("#failure-code")).to_have_text("（コード Q2008）")
    expect(page.page.locator("#failure-face")).to_be_hidden()
    expect(page.page.locator("#failure-pin")).to_be_visible()  # the way on
    shot(page, "03-face-locked")
    page.page.click("#failure-pin")
    page.screen("pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, False, False, False)
    page.screen("done")

    # the PIN check ended the row of failures: the face is the card's again
    page.remove()
    page.screen("idle")
    page.insert("yamada-taro")
    page.screen("method")
    page.page.click("#m-face")
    page.consent_all(False, False, False, False)
    page.screen("done")
    locked, by_pin, by_face = posted(page)
    assert locked.failure is not None and locked.failure.code == "Q2008"
    assert (by_pin.method, by_pin.outcome) == ("pin", "answered")
    assert (by_face.method, by_face.outcome) == ("face", "answered")


@contextmanager
def served_reader(
    browser: Browser, world: World, reader: FrontDeskReader, server_url: str
) -> Iterator[tuple[Page, str]]:
    """A reader page over `reader`, asking the server at `server_url`."""
    client = QualificationClient(server_url, world.clinic_token, timeout_s=2)
    app = create_reader_app(reader=reader, client=client, server_url=server_url)
    with ServerThread(app) as web:
        context = browser.new_context(viewport={"width": 800, "height": 900}, locale="ja-JP")
        page = context.new_page()
        page.goto(web.url)
        try:
            yield page, web.url
        finally:
            context.close()
            client.close()


def test_no_reader_asks_for_the_reception_and_is_not_ready(
    world: World, pcscd: Pcscd, browser: Browser
) -> None:
    reader = FrontDeskReader("Absent Reader 00 00")
    try:
        with served_reader(browser, world, reader, f"http://127.0.0.1:{free_port()}") as (
            page,
            url,
        ):
            expect(page.locator("#reader")).to_have_attribute("data-screen", "no-reader")
            screen = page.locator("#s-no-reader")
            expect(screen.locator("h1")).to_have_text("カードリーダーの準備ができていません")
            expect(screen).to_contain_text("受付にお声がけください")
            page.screenshot(path=_shot_path("04-no-reader"), full_page=True)
            ready = httpx.get(f"{url}/readyz")
            assert ready.status_code == 503
            assert ready.json()["reader"] not in ("empty", "card")
    finally:
        reader.close()


def _shot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"reader-fail-{name}.png")


def test_the_reader_page_recovers_after_a_pcscd_restart(
    reader_page: ReaderPage, pcscd: Pcscd
) -> None:
    assert pcscd.owned, "this test restarts pcscd: stop the pcscd started outside the tests"
    page = reader_page
    page.screen("idle")
    pcscd.kill()
    page.screen("no-reader")
    expect(page.page.locator("#s-no-reader")).to_contain_text("受付にお声がけください")
    shot(page, "05-pcscd-stopped")
    pcscd.start()
    expect(page.page.locator("#reader")).to_have_attribute("data-screen", "idle", timeout=10_000)
    page.world.register("yamada-taro")
    pin_check(page, "yamada-taro")
    page.screen("done")
    (record,) = posted(page)
    assert record.outcome == "answered"


def test_an_unreachable_server_says_so_after_the_consents_and_the_reception_hears_of_it(
    world: World, pcscd: Pcscd, browser: Browser
) -> None:
    away = f"http://127.0.0.1:{free_port()}"
    client = QualificationClient(away, world.clinic_token, timeout_s=2)
    received = Received()
    with ServerThread(receiver(received)) as reception:
        pages = _reader_page(
            world, browser, client, away, ("face-1", world.device_key), received, reception.url
        )
        page = next(pages)
        try:
            pin_check(page, "yamada-taro")  # the PIN is the card's: accepted offline
            failure_screen(page, "資格確認サーバーに接続できません")
            text = page.page.locator("#failure-text")  # what the patient can do here
            expect(text).not_to_contain_text("番号でも確認できます")  # the reception's
            expect(text).to_contain_text("やり直す")
            expect(page.page.locator("#failure-face")).to_be_hidden()
            expect(page.page.locator("#failure-pin")).to_be_hidden()
            shot(page, "06-server-unreachable")
            (record,) = posted(page)
            assert record.failure is not None and record.failure.kind == "server-unreachable"
            ready = httpx.get(f"{page.url}/readyz")
            assert ready.status_code == 503 and ready.json()["server"] == "unreachable"
            # やり直す: the choice again, the card still there
            page.page.click("#failure-retry")
            page.screen("method")
        finally:
            for _ in pages:  # the generator's clean-up
                pass
    client.close()


def test_a_wrong_pin_then_the_right_one_checks_in_and_the_tries_come_back(
    reader_page: ReaderPage,
) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    page.insert("yamada-taro")
    page.screen("method")
    page.page.click("#m-pin")
    page.type_pin(WRONG)
    page.page.click("#pin-ok")
    expect(page.page.locator("#pin-error")).to_have_text("暗証番号が違います。残り2回です。")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, True, True, True)
    page.screen("done")
    page.remove()
    page.screen("idle")
    page.insert("yamada-taro")
    page.screen("method")
    page.page.click("#m-pin")
    expect(page.page.locator("#pin-tries")).to_contain_text("あと3回")  # the right PIN reset it
    (record,) = posted(page)
    assert record.outcome == "answered"


class PulledDuringVerify(EmulatedCard):
    """A card the patient pulls off just as its PIN is verified."""

    on_verify: threading.Event
    pulled: threading.Event

    def process(self, raw: bytes) -> bytes:
        if len(raw) > 5 and raw[1] == 0x20:  # VERIFY with a PIN
            self.on_verify.set()
            self.pulled.wait(10)  # the card is gone before it answers
        return super().process(raw)


def test_a_card_pulled_while_its_pin_is_verified_has_the_removed_screen(
    reader_page: ReaderPage,
) -> None:
    page = reader_page
    page.world.register("yamada-taro")
    verify_seen, pulled = threading.Event(), threading.Event()

    def make(image: CardImage, on_change: object) -> EmulatedCard:
        card = PulledDuringVerify(image, on_change)  # type: ignore[arg-type]
        card.on_verify, card.pulled = verify_seen, pulled
        return card

    page.insert("yamada-taro", make)
    page.screen("method")
    page.page.click("#m-pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    assert verify_seen.wait(5)
    page.remove()
    pulled.set()
    page.screen("removed")
    expect(page.page.locator("#s-removed h1")).to_have_text("カードが取り外されました")
    expect(page.page.locator("body")).not_to_contain_text("カードを読み取れません")
    shot(page, "07-pulled-during-pin")
    assert page.received.bodies == []  # no check ran: nothing for the reception


def test_a_pin_tried_on_a_face_card_says_it_has_none_and_offers_the_face(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    page = reader_page
    face_only = residents["yamada-taro"].model_copy(
        update={"label": "face-only", "card": "face_card"}
    )
    since = page.world.clock.now - dt.timedelta(minutes=1)
    page.world.issuer.issue_card(face_only, pin=None, not_before=since)
    page.world.register("yamada-taro")
    page.insert("face-only")
    page.screen("method")
    expect(page.page.locator("#m-pin")).to_be_hidden()
    page.page.evaluate("keypad()")  # a PIN tried anyway (an old page, a script)
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    failure_screen(page, "暗証番号のないカードです")
    expect(page.page.locator("#failure-text")).to_contain_text("顔認証マイナンバーカード")
    expect(page.page.locator("#failure-face")).to_be_visible()
    expect(page.page.locator("#failure-pin")).to_be_hidden()
    shot(page, "08-face-card-pin-tried")
    page.page.click("#failure-face")
    page.consent_all(True, False, False, False)
    page.screen("done")
    (record,) = posted(page)
    assert (record.method, record.credential, record.outcome) == ("face", "face_card", "answered")


def test_a_smartphone_tried_by_face_is_sent_to_its_pin(
    reader_page: ReaderPage, residents: dict[str, Resident]
) -> None:
    page = reader_page
    since = page.world.clock.now - dt.timedelta(minutes=1)
    page.world.issuer.issue_smartphone(residents["yamada-taro"], pin=PIN, not_before=since)
    page.world.register("yamada-taro")
    page.insert("yamada-taro-phone")
    page.screen("method")
    expect(page.page.locator("#m-face")).to_be_hidden()
    page.page.evaluate("state.mode = 'face'; consent(0)")  # face tried anyway
    page.consent_all(True, False, False, False)
    failure_screen(page, "スマートフォンは暗証番号で確認します")
    expect(page.page.locator("#failure-pin")).to_be_visible()
    expect(page.page.locator("#failure-face")).to_be_hidden()
    shot(page, "09-smartphone-by-face")
    page.page.click("#failure-pin")
    page.screen("pin")
    page.type_pin(PIN)
    page.page.click("#pin-ok")
    page.consent_all(True, False, False, False)
    page.screen("done")
    by_face, by_pin = posted(page)
    assert by_face.failure is not None and by_face.failure.kind == "smartphone-pin-only"
    assert (by_pin.method, by_pin.credential, by_pin.outcome) == ("pin", "smartphone", "answered")


def test_a_lost_qualification_checks_in_and_the_reception_gets_the_invalid_answer(
    reader_page: ReaderPage,
) -> None:
    """The reader shows no personal details, so a lost qualification is 受付完了 there; the
    answer the reception gets says it is invalid (its screen: tests/clinic_web)."""
    page = reader_page
    page.world.register("ito-mai")
    lose(page.world, page.world.qualification_ids["ito-mai"])
    pin_check(page, "ito-mai")
    page.screen("done")
    expect(page.page.locator("body")).not_to_contain_text("喪失")
    (record,) = posted(page)
    assert record.outcome == "answered" and record.answer is not None
    assert record.answer["MessageBody"]["QualificationValidity"] == "2"


def test_the_reader_page_security_headers_and_an_oversized_body(reader_page: ReaderPage) -> None:
    headers = httpx.get(f"{reader_page.url}/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    body = b'{"pin": "' + b"1" * (MAX_REQUEST_BYTES + 1) + b'"}'
    response = httpx.post(
        f"{reader_page.url}/api/pin", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["failure"]["kind"] == "bad-input"
