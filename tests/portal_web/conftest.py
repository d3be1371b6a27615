"""The portal page in a real headless Chromium, on the person's PC: a real qualification
server over HTTP, the card in a real pcscd's virtual reader, every request the portal sends
to the server and every log record kept for the tests to read."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from clinic_client.api import QualificationClient
from clinic_client.portal_web.app import LogCheck, create_portal_app
from clinic_client.portal_web.card import PortalReader
from qualification_server.api.app import create_app
from tests.support.cards import InsertedCard
from tests.support.desk import READER, SCREENSHOTS, ServerThread
from tests.support.world import World


@dataclass(frozen=True)
class Sent:
    """One request the portal sent to the server, as it went on the wire."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class Records(logging.Handler):
    """Every log record of the process while a portal test runs, as formatted text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@dataclass
class Portal:
    world: World
    url: str
    page: Page
    server: ServerThread
    readers: PcscReaders
    sent: list[Sent] = field(default_factory=list)
    logs: Records = field(default_factory=Records)
    slot: InsertedCard | None = None

    def insert(self, label: str) -> None:
        path = self.world.card(label)
        card = EmulatedCard(load_image(path), on_change=lambda i: save_image(path, i))
        self.slot = InsertedCard(card, self.readers)
        self.slot.insert()

    def remove(self) -> None:
        if self.slot is not None:
            self.slot.remove()
            self.slot = None

    def enter_pin(self, which: str, pin: str) -> None:
        """Type the PIN on the page's keypad."""
        keys = self.page.locator(f'.pin[data-pin="{which}"] .keys')
        for digit in pin:
            keys.get_by_role("button", name=digit, exact=True).click()

    def login(self, pin: str = "1234") -> None:
        expect(self.page.locator("#screen-login")).to_be_visible()
        self.enter_pin("login", pin)
        self.page.click("#login-go")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def stop_server(self) -> None:
        self.server.server.should_exit = True
        self.server.thread.join(timeout=10)


@contextlib.contextmanager
def serve_portal(
    world: World, browser: Browser, log_check: LogCheck | None = None
) -> Iterator[Portal]:
    """The server, the portal app (checking records by `log_check`) and the page on it."""
    sent: list[Sent] = []

    def keep(request: httpx.Request) -> None:
        sent.append(Sent(request.method, str(request.url), dict(request.headers), request.read()))

    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        http = httpx.Client(base_url=server.url, timeout=10, event_hooks={"request": [keep]})
        client = QualificationClient(server.url, "", http=http)
        reader = PortalReader(READER)
        app = create_portal_app(
            reader=reader, client=client, poll_interval_s=0.1, log_check=log_check
        )
        with ServerThread(app) as web:
            context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ja-JP")
            page = context.new_page()
            portal = Portal(world, web.url, page, server, PcscReaders(), sent, records)
            page.goto(web.url)
            yield portal
            portal.remove()
            portal.readers.close()
            context.close()
        reader.close()
        client.close()
    root.removeHandler(records)


@pytest.fixture
def portal(world: World, pcscd: Pcscd, browser: Browser) -> Iterator[Portal]:
    with serve_portal(world, browser) as portal:
        yield portal


__all__ = ["Path", "Portal", "serve_portal"]
