"""The two pages together, as a clinic has them: the patient checks in at the reader page
(card, PIN on its keypad, consents) and the check-in appears on the reception terminal without
a reload, with its result; the PIN reaches neither the reception page nor its server's log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from clinic_client.api import QualificationClient
from clinic_client.reader import FrontDeskReader
from clinic_client.reader_web.app import create_reader_app
from clinic_client.web.app import create_clinic_app
from qualification_server.api.app import create_app
from tests.support.cards import PIN, InsertedCard
from tests.support.desk import READER, RECEPTION_KEY, SCREENSHOTS, ServerThread
from tests.support.world import World

pytestmark = [pytest.mark.db, pytest.mark.pcsc]


@dataclass
class Clinic:
    world: World
    reader_page: Page
    reception_page: Page
    readers: PcscReaders

    def insert(self, label: str) -> InsertedCard:
        path = self.world.card(label)
        card = EmulatedCard(load_image(path), on_change=lambda i: save_image(path, i))
        slot = InsertedCard(card, self.readers)
        slot.insert()
        return slot


@pytest.fixture
def clinic(world: World, pcscd: Pcscd, browser: Browser) -> Iterator[Clinic]:
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, world.clinic_token)
        reception_app = create_clinic_app(
            client=client, reception_key=RECEPTION_KEY, poll_interval_s=0.1
        )
        reader = FrontDeskReader(READER)
        with ServerThread(reception_app) as reception:
            reader_app = create_reader_app(
                reader=reader,
                client=client,
                server_url=server.url,
                device=("face-1", world.device_key),
                reception_url=reception.url,
                reception_key=RECEPTION_KEY,
            )
            with ServerThread(reader_app) as reader_web:
                patient = browser.new_context(viewport={"width": 800, "height": 900})
                desk = browser.new_context(viewport={"width": 1100, "height": 900})
                reader_page, reception_page = patient.new_page(), desk.new_page()
                reader_page.goto(reader_web.url)
                reception_page.goto(reception.url)
                clinic = Clinic(world, reader_page, reception_page, PcscReaders())
                yield clinic
                clinic.readers.close()
                patient.close()
                desk.close()
        reader.close()
        client.close()


def test_a_check_at_the_reader_arrives_at_the_reception(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    clinic.world.register("yamada-taro")
    reception = clinic.reception_page
    expect(reception.locator("#checkins-empty")).to_be_visible()
    caplog.set_level(logging.DEBUG)
    slot = clinic.insert("yamada-taro")
    reader = clinic.reader_page
    reader.click("#m-pin")
    for digit in PIN:
        reader.click(f".key[data-digit='{digit}']")
    reader.click("#pin-ok")
    for answer in ("#consent-yes", "#consent-no", "#consent-yes", "#consent-yes"):
        expect(reader.locator("#reader")).to_have_attribute("data-screen", "consent")
        reader.click(answer)
    expect(reader.locator("#reader")).to_have_attribute("data-screen", "done")
    item = reception.locator("#checkins li")
    expect(item).to_have_count(1, timeout=10_000)  # pushed: no reload
    expect(item.locator(".badge")).to_have_text("有効")
    expect(item).to_contain_text("山田 太郎")
    item.locator("button").click()
    detail = reception.locator("#detail")
    expect(detail).to_contain_text("昭和55年4月1日 (1980-04-01)")
    expect(detail).to_contain_text("診療・薬剤情報の提供：同意する")
    expect(detail).to_contain_text("特定健診情報の提供：同意しない")
    expect(detail).to_contain_text("暗証番号")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reception.screenshot(path=str(SCREENSHOTS / "reception-from-reader.png"), full_page=True)
    slot.remove()
    web_log = [r.getMessage() for r in caplog.records if r.name.startswith("clinic_client.web")]
    assert not any(PIN in line for line in web_log)
    assert PIN not in reception.inner_text("body")
