"""The portal page as the person uses it, in Chromium: card in the reader, the PIN on the
page, the registration with the My Number's last 4 digits, who looked at their data in
words, 利用登録 and its withdrawal, and a way on from every failure. The PIN and the full
My Number go nowhere: in no request to the server and in no log."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from cryptography import x509
from playwright.sync_api import expect

from card_reader.core.jpki import JpkiFile
from card_reader.emulator.image import load_image
from card_reader.issuance.residents import Resident
from clinic_client.portal_web.words import japan_date_text
from tests.portal_web.conftest import Portal
from tests.support.world import CLINIC, KOKUHO, KYOKAI, PIN

pytestmark = [pytest.mark.pcsc, pytest.mark.db]


def _leaves(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*map(str, value), *(s for v in value.values() for s in _leaves(v))]
    if isinstance(value, list):
        return [s for v in value for s in _leaves(v)]
    return [str(value)]


def assert_nothing_leaked(portal: Portal, my_number: str) -> None:
    """Neither the PIN nor the full My Number in a request to the server or a log line."""
    assert portal.sent, "the portal sent nothing to the server"
    for sent in portal.sent:
        wire = f"{sent.url} {json.dumps(sent.headers)}"
        assert my_number not in wire + sent.body.decode()
        assert not re.search(rf"\b{PIN}\b", wire)
        assert "authorization" not in {k.lower() for k in sent.headers}  # no clinic credential
        if sent.body:
            leaves = _leaves(json.loads(sent.body))
            assert PIN not in leaves and not any(s.lower() == "pin" for s in leaves)
            # the base64 values carry no My Number in any encoding either
            for leaf in leaves:
                if re.fullmatch(r"[A-Za-z0-9+/=_-]{16,}", leaf):
                    assert my_number.encode() not in base64.b64decode(leaf + "==", altchars=b"-_")
    for line in portal.logs.lines:
        assert my_number not in line, line
        assert not re.search(rf"\b{PIN}\b", line), line


def test_sign_in_shows_the_registration_and_the_history_in_words(
    portal: Portal, residents: dict[str, Resident]
) -> None:
    world = portal.world
    world.register("yamada-taro")
    status, _ = world.check("yamada-taro")  # 霞が関クリニック, with the PIN
    assert status == 200
    face = world.client.post("/v1/eligibility/card", json=world.face_body("yamada-taro"),
                             headers=world.headers())  # fmt: skip
    assert face.status_code == 200, face.text
    expect(portal.page.locator("#screen-insert")).to_be_visible()
    portal.shot("portal-insert")
    portal.insert("yamada-taro")
    expect(portal.page.locator("#screen-login")).to_be_visible()
    portal.enter_pin("login", "12")
    portal.shot("portal-login")
    portal.page.locator('.pin[data-pin="login"] .keys').get_by_role("button", name="消去").click()
    portal.login()

    home = portal.page.locator("#screen-home")
    expect(home).to_be_visible()
    expect(portal.page.locator("#home-insurers")).to_have_text(
        f"全国健康保険協会 東京支部（保険者番号 {KYOKAI.digits}）"
    )
    today = japan_date_text(world.clock())
    expect(portal.page.locator("#home-since")).to_have_text(today)
    assert re.fullmatch(r"令和\d+年\d+月\d+日（\d{4}年\d+月\d+日）", today)
    expect(portal.page.locator("#home-via")).to_have_text("マイナポータルで登録")
    my_number = residents["yamada-taro"].my_number
    expect(portal.page.locator("#home-mynumber")).to_have_text(f"●●●●●●●●{my_number[-4:]}")

    rows = portal.page.locator("#history tbody tr")
    expect(rows).to_have_count(3)  # newest first: face, PIN, the registration
    clinic = f"霞が関クリニック（医療機関コード {CLINIC}）"
    expect(rows.nth(0)).to_contain_text(clinic)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("マイナンバーカード（顔認証）")
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("資格あり（有効）")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("マイナンバーカード（暗証番号）")
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("資格あり（有効）")
    expect(rows.nth(2)).to_contain_text("ご本人（マイナポータル）")
    expect(rows.nth(2).locator("td").nth(3)).to_have_text("利用登録しました")
    expect(rows.nth(0).locator("td").nth(0)).to_contain_text(today)
    portal.shot("portal-home")
    assert "●●●●●●●●" in portal.page.content() and my_number not in portal.page.content()

    assert_nothing_leaked(portal, my_number)

    portal.remove()  # taking the card away logs out
    expect(portal.page.locator("#out-title")).to_have_text("ログアウトしました")
    expect(portal.page.locator("#home-mynumber")).to_be_hidden()
    portal.shot("portal-logged-out")


def test_a_refused_check_and_an_insured_number_lookup_in_words(
    portal: Portal, residents: dict[str, Resident]
) -> None:
    world = portal.world
    status, answer = world.check("yamada-taro")  # not registered yet
    assert status == 404 and answer["error"]["code"] == "Q3001"
    world.register("yamada-taro")
    birth = residents["yamada-taro"].birth_date
    query = {"InsurerNumber": KYOKAI.digits, "InsuredCardSymbol": "記号12",
             "InsuredIdentificationNumber": "1001", "Birthdate": f"{birth:%Y%m%d}"}  # fmt: skip
    lookup = world.client.post(
        "/v1/eligibility/insured-number", json={"query": query}, headers=world.headers()
    )
    assert lookup.status_code == 200, lookup.text
    portal.insert("yamada-taro")
    portal.login()
    rows = portal.page.locator("#history tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("保険証の記号・番号（保険証番号）")
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("資格あり（有効）")
    expect(rows.nth(2).locator("td").nth(3)).to_have_text("照会拒否（利用登録されていない、Q3001）")
    expect(rows.nth(2)).to_have_class("refused")
    portal.shot("portal-history-refused")


def test_unregister_with_a_confirmation(portal: Portal) -> None:
    world = portal.world
    world.register("yamada-taro")
    portal.insert("yamada-taro")
    portal.login()
    expect(portal.page.locator("#screen-home")).to_be_visible()
    portal.page.click("#unregister-start")
    expect(portal.page.locator("#screen-unregister")).to_contain_text("利用登録を解除しますか？")
    expect(portal.page.locator("#unregister-go")).to_be_disabled()
    portal.shot("portal-unregister-confirm")
    portal.page.click("#unregister-cancel")  # changing one's mind keeps the registration
    expect(portal.page.locator("#screen-home")).to_be_visible()
    portal.page.click("#unregister-start")
    portal.enter_pin("unregister", PIN)
    portal.page.click("#unregister-go")
    expect(portal.page.locator("#out-title")).to_have_text("利用登録を解除しました")
    portal.shot("portal-unregistered")
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (404, "Q3001")
    portal.page.click("#out-again")  # the way on: sign in again, now not registered
    portal.login()
    expect(portal.page.locator("#screen-register")).to_be_visible()


def test_a_card_not_registered_is_offered_registration(portal: Portal) -> None:
    portal.insert("suzuki-hanako")
    portal.login()
    screen = portal.page.locator("#screen-register")
    expect(screen).to_contain_text("利用登録されていません")
    portal.enter_pin("register", PIN)
    expect(portal.page.locator("#register-go")).to_be_disabled()  # not without the consent
    portal.page.check("#consent")
    expect(portal.page.locator("#register-go")).to_be_enabled()
    portal.shot("portal-not-registered")
    portal.page.click("#register-go")
    done = portal.page.locator("#screen-registered")
    expect(done).to_contain_text("利用登録が完了しました")
    expect(done).to_contain_text("千代田区国民健康保険")
    portal.shot("portal-registered")
    portal.page.click("#registered-login")
    portal.login()
    insurers = portal.page.locator("#home-insurers div")
    expect(insurers).to_have_count(2)
    expect(portal.page.locator("#home-insurers")).to_contain_text(f"保険者番号 {KOKUHO.digits}")


def test_a_wrong_pin_says_the_tries_left_and_a_blocked_card_says_where_to_go(
    portal: Portal,
) -> None:
    portal.world.register("yamada-taro")
    portal.insert("yamada-taro")
    portal.login("9999")
    failure = portal.page.locator("#screen-failure")
    expect(failure.locator("h2")).to_have_text("暗証番号が違います")
    expect(failure).to_contain_text("あと2回")
    portal.shot("portal-wrong-pin")
    portal.page.click("#failure-retry")  # the way on: the keypad again
    expect(portal.page.locator("#login-tries")).to_contain_text("あと2回")
    portal.login("9998")
    expect(failure).to_contain_text("あと1回")
    portal.page.click("#failure-retry")
    expect(portal.page.locator("#login-tries")).to_contain_text("あと1回")
    portal.login("9997")
    expect(failure.locator("h2")).to_have_text("暗証番号がロックされています")  # the third
    expect(portal.page.locator("#failure-retry")).to_be_hidden()
    portal.remove()
    portal.insert("yamada-taro")  # put back: told at once, no keypad offered
    expect(failure.locator("h2")).to_have_text("暗証番号がロックされています")
    expect(failure).to_contain_text("市区町村の窓口")
    expect(portal.page.locator("#failure-retry")).to_be_hidden()
    portal.shot("portal-blocked")
    portal.page.click("#failure-home")
    expect(portal.page.locator("#out-title")).to_have_text("終了しました")


def test_server_unreachable_offers_a_retry(portal: Portal) -> None:
    portal.insert("yamada-taro")
    portal.stop_server()
    portal.login()
    failure = portal.page.locator("#screen-failure")
    expect(failure.locator("h2")).to_have_text("サーバーに接続できません")
    expect(portal.page.locator("#failure-retry")).to_have_text("もう一度試す")
    portal.shot("portal-unreachable")
    portal.page.click("#failure-retry")
    expect(portal.page.locator("#screen-login")).to_be_visible()


def test_a_revoked_certificate_is_refused_with_what_to_do(portal: Portal) -> None:
    world = portal.world
    world.register("yamada-taro")
    image = load_image(world.card("yamada-taro"))
    serial = x509.load_der_x509_certificate(image.jpki_files[JpkiFile.AUTH_CERT]).serial_number
    world.issuer.revoke(serial)
    portal.insert("yamada-taro")
    portal.login()
    failure = portal.page.locator("#screen-failure")
    expect(failure.locator("h2")).to_have_text("電子証明書が使えません")
    expect(failure).to_contain_text("Q1005")
    expect(failure).to_contain_text("市区町村の窓口")
    portal.shot("portal-certificate-refused")
    portal.page.click("#failure-home")
    expect(portal.page.locator("#out-title")).to_have_text("終了しました")


def test_the_page_keeps_no_pin(portal: Portal) -> None:
    """After a sign-in the PIN is nowhere on the page: the field is cleared as it is sent."""
    portal.world.register("yamada-taro")
    portal.insert("yamada-taro")
    portal.login()
    expect(portal.page.locator("#screen-home")).to_be_visible()
    values = portal.page.eval_on_selector_all(".pin input", "els => els.map(e => e.value)")
    assert values == ["", "", ""]


def test_a_pin_of_the_wrong_shape_is_not_echoed_and_other_sites_are_refused(
    portal: Portal,
) -> None:
    portal.insert("yamada-taro")
    response = httpx.post(f"{portal.url}/api/login", json={"pin": "98765"})
    assert response.status_code == 422 and "98765" not in response.text
    assert response.json()["failure"]["fields"] == ["pin"]
    foreign = httpx.post(
        f"{portal.url}/api/login", json={"pin": "9999"}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert portal.page.evaluate("fetch('/api/card').then(r => r.json())")["tries_left"] == 3
