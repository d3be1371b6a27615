"""The section 「あなたのマイナンバーを登録した保険者」 in Chromium: a matched and a held
linkage in words, which items did not match (never their values), the My Number by its last
4 digits, and what the person can do about the hold."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from card_reader.issuance.residents import Resident
from tests.portal_web.conftest import Portal
from tests.portal_web.linkage import WRONG_NAME, register_held
from tests.portal_web.test_portal_page import assert_nothing_leaked
from tests.support.world import KOKUHO, KYOKAI

pytestmark = [pytest.mark.pcsc, pytest.mark.db]


def test_the_insurers_that_linked_the_number_a_hold_and_what_to_do(
    portal: Portal, residents: dict[str, Resident]
) -> None:
    world = portal.world
    yamada = residents["yamada-taro"]
    world.register("yamada-taro")
    register_held(world, residents, "yamada-taro")  # 国保, under a name the issuer does not know
    portal.insert("yamada-taro")
    portal.login()
    expect(portal.page.locator("#screen-home")).to_be_visible()

    section = portal.page.locator("#linkages")
    expect(section).to_be_visible()
    held, advice, matched = section.locator("tbody tr").all()  # newest first
    tail = f"マイナンバー下4桁 ****{yamada.my_number[-4:]}"
    expect(held).to_have_class("held")
    expect(held.locator("td").nth(1)).to_have_text(
        f"千代田区国民健康保険（保険者番号 {KOKUHO.digits}）"
    )
    expect(held.locator("td").nth(2)).to_have_text(
        "登録されました。一致しなかったため保留中です（保険者が確認中）。"
    )
    expect(held.locator("td").nth(3)).to_have_text("氏名")
    expect(held.locator("td").nth(4)).to_have_text(tail)
    expect(advice).to_contain_text("千代田区国民健康保険にお問い合わせください")
    expect(advice).to_contain_text("資格確認書")
    expect(matched.locator("td").nth(1)).to_have_text(
        f"全国健康保険協会 東京支部（保険者番号 {KYOKAI.digits}）"
    )
    expect(matched.locator("td").nth(2)).to_have_text(
        "登録されました。登録内容が住民票の情報と一致しました。"
    )
    expect(matched.locator("td").nth(3)).to_have_text("—")
    expect(matched.locator("td").nth(4)).to_have_text(tail)
    expect(portal.page.locator("#linkages-empty")).to_be_hidden()
    # the way on stays: withdrawal and logout
    expect(portal.page.locator("#unregister-start")).to_be_visible()
    expect(portal.page.locator("#logout")).to_be_visible()
    portal.shot("portal-linkages")

    content = portal.page.content()
    assert yamada.my_number not in content
    assert WRONG_NAME not in content  # the insurer's value is never shown, only the item
    assert_nothing_leaked(portal, yamada.my_number)
