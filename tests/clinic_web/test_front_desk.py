"""The reception's screens in a real Chromium: each flow a receptionist meets."""

from __future__ import annotations

import threading

import httpx
import pytest
from cryptography import x509
from playwright.sync_api import expect

from card_reader.core.jpki import JpkiFile
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image
from clinic_client.web.app import MAX_REQUEST_BYTES
from tests.support.desk import Desk

# The card check moved from this page to the patient-facing reader (clinic_client/reader_web,
# `clinic reader-serve`); these drive it on the old desk page and wait to be ported there
# (tests/reader_web). The lookup, the batch and the headers are in test_reception.py.
MOVED = "the card check moved to the reader page (clinic_client/reader_web)"
pytestmark = [pytest.mark.db, pytest.mark.pcsc, pytest.mark.skip(reason=MOVED)]


def wait_for_mode_choice(desk: Desk) -> None:
    expect(desk.page.locator("#reader")).to_have_attribute("data-state", "card")
    expect(desk.page.locator("#step-mode")).to_be_visible()


def enter_pin(desk: Desk, pin: str) -> None:
    expect(desk.page.locator("#step-pin")).to_be_visible()
    desk.page.fill("#pin", pin)
    desk.page.click("#pin-ok")


def test_waiting_screen_then_card_inserted_without_reload(desk: Desk) -> None:
    expect(desk.page.locator("#step-wait")).to_be_visible()
    expect(desk.page.locator("#reader-text")).to_have_text("カード待ち")
    desk.shot("01-waiting")
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.shot("02-card-inserted")
    desk.remove()
    expect(desk.page.locator("#step-wait")).to_be_visible()


def test_full_check_with_pin_and_consent(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.check("#c-limit")
    desk.page.click("#mode-pin")
    expect(desk.page.locator("#tries")).to_have_text("残り3回まで入力できます")
    desk.shot("03-pin-entry")
    enter_pin(desk, "1234")
    result = desk.page.locator("#step-result")
    expect(result).to_be_visible()
    expect(result.locator("h2")).to_have_text("山田 太郎")
    expect(result.locator(".kana")).to_have_text("ヤマダ タロウ")
    expect(result.locator(".badge")).to_have_text("有効")
    expect(result).to_contain_text("01130012 全国健康保険協会 東京支部")
    expect(result).to_contain_text("記号12・1001・00")
    expect(result).to_contain_text("3割")
    expect(result).to_contain_text("限度額適用（区分A03）")  # consented, so shown
    desk.shot("04-result")
    # the card leaves: the answer stays, marked as the previous patient's
    desk.remove()
    expect(result.locator(".removed")).to_be_visible()
    # a new card clears the old answer before anything else is shown
    desk.world.register("suzuki-hanako")
    desk.insert("suzuki-hanako")
    wait_for_mode_choice(desk)
    expect(result).to_be_hidden()
    expect(desk.page.locator("#step-result h2")).to_have_count(0)


def test_wrong_pin_then_right_pin(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-pin")
    enter_pin(desk, "0000")
    expect(desk.page.locator("#tries")).to_have_text("暗証番号が違います。残り2回です。")
    desk.shot("05-wrong-pin")
    enter_pin(desk, "1234")
    expect(desk.page.locator("#step-result .badge")).to_have_text("有効")


def test_blocked_card(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-pin")
    for _ in range(2):
        enter_pin(desk, "0000")
        expect(desk.page.locator("#tries")).to_contain_text("暗証番号が違います")
    enter_pin(desk, "0000")
    failure = desk.page.locator("#step-failure")
    expect(failure).to_be_visible()
    expect(failure.locator("h2")).to_have_text("暗証番号がロックされています")
    expect(failure.get_by_role("button", name="顔認証・目視で確認")).to_be_visible()
    desk.shot("06-blocked")
    # the way out: a face check at this clinic's registered reader
    failure.get_by_role("button", name="顔認証・目視で確認").click()
    desk.page.click("#mode-face")
    expect(desk.page.locator("#step-result .badge")).to_have_text("有効")


def test_revoked_certificate(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    image = load_image(desk.world.card("yamada-taro"))
    serial = x509.load_der_x509_certificate(image.jpki_files[JpkiFile.AUTH_CERT]).serial_number
    desk.world.issuer.revoke(serial)
    desk.insert("yamada-taro")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-pin")
    enter_pin(desk, "1234")
    failure = desk.page.locator("#step-failure")
    expect(failure.locator("h2")).to_have_text("電子証明書が失効しています")
    expect(failure).to_contain_text("Q1005")
    expect(failure.get_by_role("button", name="保険証の番号で確認")).to_be_visible()
    desk.shot("07-revoked")


class PulledDuringVerify(EmulatedCard):
    """A card the patient pulls out just as the PIN is checked."""

    on_verify: threading.Event
    pulled: threading.Event

    def process(self, raw: bytes) -> bytes:
        if len(raw) > 5 and raw[1] == 0x20:
            self.on_verify.set()
            self.pulled.wait(10)  # the card is gone before it answers
        return super().process(raw)


def test_card_removed_mid_check(desk: Desk) -> None:
    desk.world.register("yamada-taro")
    verify_seen, pulled = threading.Event(), threading.Event()

    def make(image, on_change):  # type: ignore[no-untyped-def]
        card = PulledDuringVerify(image, on_change)
        card.on_verify, card.pulled = verify_seen, pulled
        return card

    desk.insert("yamada-taro", make)
    wait_for_mode_choice(desk)
    desk.page.click("#mode-pin")
    desk.page.fill("#pin", "1234")
    desk.page.click("#pin-ok")
    assert verify_seen.wait(5)
    desk.remove()
    pulled.set()
    failure = desk.page.locator("#step-failure")
    expect(failure.locator("h2")).to_have_text("カードが取り出されました")
    expect(failure).to_contain_text("カードを置き直して")
    desk.shot("08-card-removed")


def test_card_not_registered_offers_registration(desk: Desk) -> None:
    desk.insert("ito-mai")
    wait_for_mode_choice(desk)
    desk.page.click("#mode-pin")
    enter_pin(desk, "1234")
    failure = desk.page.locator("#step-failure")
    expect(failure.locator("h2")).to_have_text("利用登録がされていません")
    desk.shot("09-not-registered")
    failure.get_by_role("button", name="この端末で利用登録する").click()
    desk.page.check("#register-consent")
    desk.page.fill("#register-pin", "1234")
    desk.page.get_by_role("button", name="登録する").click()
    expect(desk.page.locator("#step-mode")).to_contain_text("利用登録が完了しました")
    desk.page.click("#mode-pin")
    enter_pin(desk, "1234")
    expect(desk.page.locator("#step-result h2")).to_have_text("伊藤 舞")


def test_insured_card_form(desk: Desk) -> None:
    desk.page.get_by_role("button", name="保険証の番号で確認").click()
    form = desk.page.locator("#number-form")
    form.locator("[name=InsurerNumber]").fill("01130012")
    form.locator("[name=InsuredCardSymbol]").fill("記号12")
    form.locator("[name=InsuredIdentificationNumber]").fill("1001")
    form.locator("[name=Birthdate]").fill("1980-04-01")
    form.get_by_role("button", name="照会する").click()
    result = desk.page.locator("#number-result")
    expect(result.locator("h2")).to_have_text("山田 太郎")
    expect(result.locator(".badge")).to_have_text("有効")
    desk.shot("10-number-form")
    form.locator("[name=Birthdate]").fill("1980-04-02")
    form.get_by_role("button", name="照会する").click()
    expect(result).to_contain_text("Q4001")


def test_batch_list(desk: Desk, tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "appointments.csv"
    csv.write_text(
        "InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,Birthdate\n"
        "01130012,記号12,1001,,19800401\n"
        "  131011,,4001,,19750630\n"
        "01130012,,9999,00,20000101\n",
        encoding="cp932",
    )
    desk.page.get_by_role("button", name="予約の一括確認").click()
    desk.page.set_input_files("#batch-file", str(csv))
    desk.page.get_by_role("button", name="一括確認する").click()
    result = desk.page.locator("#batch-result")
    # Two steps: the reception number at once, then the result once the server is done
    # (its page polls; 処理中 shows the number meanwhile)
    expect(result.locator("p.big")).to_have_text("3件中 正常2件・エラー1件")
    rows = result.locator("table tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(1)).to_contain_text("山田 太郎")
    expect(rows.nth(2)).to_contain_text("無効（新しい資格あり）")
    expect(rows.nth(3)).to_contain_text("Q4001")
    desk.shot("11-batch")
    with desk.page.expect_download() as download:
        result.get_by_role("button", name="CSVで保存").click()
    saved = download.value.path().read_bytes().decode("utf-8-sig")
    assert "山田 太郎" in saved and saved.count("\r\n") == 3


def test_english_and_security_headers(desk: Desk) -> None:
    desk.page.click("#lang")
    expect(desk.page.locator("[data-i18n=wait_card]")).to_have_text("Put the card on the reader")
    response = desk.page.request.get(desk.url + "/")
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    desk.shot("12-english")


def test_an_oversized_body_is_refused_unread(desk: Desk) -> None:
    body = b'{"pin": "' + b"1" * (MAX_REQUEST_BYTES + 1) + b'"}'
    response = httpx.post(
        desk.url + "/api/check", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["failure"]["kind"] == "bad-input"
