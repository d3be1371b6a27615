"""The kinds of card at the reception, in a real Chromium and through the real reader stack
(docs/card.md, the kinds of card): a 顔認証マイナンバーカード is offered face and visual checks
only and the desk says why a PIN cannot be used; a smartphone is checked with its PIN only and
its answer says it was a smartphone."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from card_reader.issuance.residents import Resident
from tests.support.cards import PIN
from tests.support.desk import Desk

# The card check moved from this page to the patient-facing reader (clinic_client/reader_web,
# `clinic reader-serve`); these drive it on the old desk page and wait to be ported there
# (tests/reader_web). The lookup, the batch and the headers are in test_reception.py.
MOVED = "the card check moved to the reader page (clinic_client/reader_web)"
pytestmark = [pytest.mark.db, pytest.mark.pcsc, pytest.mark.skip(reason=MOVED)]


def issued_since(desk: Desk) -> dt.datetime:
    return desk.world.clock.now - dt.timedelta(minutes=1)  # the world's clock stands still


def wait_for_modes(desk: Desk) -> None:
    expect(desk.page.locator("#reader")).to_have_attribute("data-state", "card")
    expect(desk.page.locator("#step-mode")).to_be_visible()


def test_a_face_card_is_offered_face_and_visual_checks_only(
    desk: Desk, residents: dict[str, Resident]
) -> None:
    face_only = residents["yamada-taro"].model_copy(
        update={"label": "face-only", "card": "face_card"}
    )
    desk.world.issuer.issue_card(face_only, pin=None, not_before=issued_since(desk))
    desk.world.register("yamada-taro")  # registered with a card of his: the same person
    desk.insert("face-only")
    wait_for_modes(desk)
    note = desk.page.locator("#mode-note")
    expect(note).to_contain_text("暗証番号が使えません")
    expect(desk.page.locator("#mode-pin")).to_be_hidden()
    expect(desk.page.locator("#mode-face")).to_be_visible()
    expect(desk.page.locator("#mode-visual")).to_be_visible()
    desk.shot("kinds-01-face-card-modes")
    # a PIN tried anyway (a script, an old page): the card refuses it and the desk says why
    desk.page.evaluate(f"check('pin', '{PIN}')")
    failure = desk.page.locator("#step-failure")
    expect(failure.locator("h2")).to_have_text("暗証番号のないカードです")
    expect(failure).to_contain_text("顔認証マイナンバーカード")
    desk.shot("kinds-02-face-card-pin-tried")
    failure.get_by_role("button", name="顔認証・目視で確認").click()
    expect(desk.page.locator("#mode-pin")).to_be_hidden()
    desk.page.click("#mode-face")
    expect(desk.page.locator("#step-result .badge")).to_have_text("有効")


def test_a_smartphone_is_checked_with_its_pin_and_said_to_be_one(
    desk: Desk, residents: dict[str, Resident]
) -> None:
    desk.world.issuer.issue_smartphone(
        residents["yamada-taro"], pin=PIN, not_before=issued_since(desk)
    )
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro-phone")
    wait_for_modes(desk)
    expect(desk.page.locator("#mode-note")).to_contain_text("スマートフォン")
    expect(desk.page.locator("#mode-face")).to_be_hidden()
    expect(desk.page.locator("#mode-visual")).to_be_hidden()
    desk.shot("kinds-03-smartphone-modes")
    desk.page.click("#mode-pin")
    expect(desk.page.locator("#tries")).to_have_text("残り3回まで入力できます")
    desk.page.fill("#pin", PIN)
    desk.page.click("#pin-form button[type=submit]")
    result = desk.page.locator("#step-result")
    expect(result.locator(".badge")).to_have_text("有効")
    expect(result.locator(".credential")).to_have_text("スマートフォン（スマホ用電子証明書）で確認")
    desk.shot("kinds-04-smartphone-answer")


def test_a_smartphone_in_face_mode_is_sent_to_the_pin(
    desk: Desk, residents: dict[str, Resident]
) -> None:
    desk.world.issuer.issue_smartphone(
        residents["yamada-taro"], pin=PIN, not_before=issued_since(desk)
    )
    desk.insert("yamada-taro-phone")
    wait_for_modes(desk)
    desk.page.evaluate("check('face')")
    failure = desk.page.locator("#step-failure")
    expect(failure.locator("h2")).to_have_text("スマートフォンは暗証番号で確認します")
    failure.get_by_role("button", name="暗証番号で確認").click()
    expect(desk.page.locator("#step-pin")).to_be_visible()
