"""The patient-facing reader page (clinic_client.reader_web) in a real headless Chromium,
over the real pcscd's virtual reader and a real qualification server over HTTP; the
check-ins it posts land in a small receiver that keeps each body and its headers as sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
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
from tests.support.cards import InsertedCard
from tests.support.desk import READER, SCREENSHOTS, ServerThread
from tests.support.world import CLINIC, World

RECEPTION_KEY = "reception-key-of-the-reader-tests"


@dataclass
class Received:
    """What the receiver got: each POSTed body as raw text, and its Authorization."""

    bodies: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


def receiver(received: Received) -> FastAPI:
    app = FastAPI()

    @app.post("/api/check-ins", status_code=201)
    async def check_ins(request: Request) -> dict[str, Any]:
        received.bodies.append((await request.body()).decode())
        received.authorizations.append(request.headers.get("authorization"))
        return {"ok": True}

    return app


class ReaderPage:
    """The reader page under test: the page, the card slot, the check-ins received."""

    def __init__(
        self, world: World, url: str, page: Page, received: Received, reception_url: str
    ) -> None:
        self.world = world
        self.url = url
        self.reception_url = reception_url
        self.page = page
        self.received = received
        self.slot: InsertedCard | None = None
        self.readers = PcscReaders()

    def insert(self, label: str, card_type: Callable[..., EmulatedCard] = EmulatedCard) -> None:
        path = self.world.card(label)
        card = card_type(load_image(path), on_change=lambda i: save_image(path, i))
        self.slot = InsertedCard(card, self.readers)
        self.slot.insert()

    def remove(self) -> None:
        if self.slot is not None:
            self.slot.remove()
            self.slot = None

    def screen(self, name: str) -> None:
        expect(self.page.locator("#reader")).to_have_attribute("data-screen", name)

    def type_pin(self, pin: str) -> None:
        for digit in pin:
            self.page.click(f".key[data-digit='{digit}']")

    def consent_all(self, *answers: bool) -> None:
        """Answer the four consent screens in order (yes/no)."""
        for yes in answers:
            self.screen("consent")
            self.page.click("#consent-yes" if yes else "#consent-no")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"reader-{name}.png"), full_page=True)


@pytest.fixture(params=["with-device"])
def reader_page(
    request: pytest.FixtureRequest,
    world: World,
    pcscd: Pcscd,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[ReaderPage]:
    """The reader page; `@pytest.mark.parametrize("reader_page", [...], indirect=True)`
    with "no-device" serves it without a face device key, with "real-reception" posts its
    check-ins to the real reception terminal (clinic_client.web) instead of the receiver."""
    caplog.set_level(logging.DEBUG)
    device = None if request.param == "no-device" else ("face-1", world.device_key)
    received = Received()
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, world.clinic_token)
        if request.param == "real-reception":
            receiving = create_clinic_app(
                client=client, reception_key=RECEPTION_KEY, clinic_code=CLINIC, poll_interval_s=0.1
            )
        else:
            receiving = receiver(received)
        with ServerThread(receiving) as reception:
            yield from _reader_page(
                world, browser, client, server.url, device, received, reception.url
            )
        client.close()


def _reader_page(
    world: World,
    browser: Browser,
    client: QualificationClient,
    server_url: str,
    device: tuple[str, Ed25519PrivateKey] | None,
    received: Received,
    reception_url: str,
) -> Iterator[ReaderPage]:
    reader = FrontDeskReader(READER)
    app = create_reader_app(
        reader=reader,
        client=client,
        server_url=server_url,
        device=device,
        reception_url=reception_url,
        reception_key=RECEPTION_KEY,
    )
    with ServerThread(app) as web:
        context = browser.new_context(viewport={"width": 800, "height": 900}, locale="ja-JP")
        page = context.new_page()
        reader_page = ReaderPage(world, web.url, page, received, reception_url)
        page.goto(web.url)
        yield reader_page
        if reader_page.slot is not None:
            reader_page.remove()
        reader_page.readers.close()
        context.close()
    reader.close()
