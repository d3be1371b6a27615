"""The reception terminal's web app in a real headless Chromium, against a real
qualification server over HTTP; check-ins posted to it as the patient-facing reader posts
them, and emulated cards in a real pcscd's virtual reader for the tests that need one (the
reception has no reader: a card there is for `clinic verify` and the reader page)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from clinic_client.api import QualificationClient
from clinic_client.web.app import create_clinic_app
from onshi_kernel.japan_time import japan_now
from qualification_server.api.app import create_app
from tests.support.cards import InsertedCard
from tests.support.world import World

CHROMIUM = "/usr/bin/chromium"
READER = vpcd_reader_name(0)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
RECEPTION_KEY = "reception-key-of-the-tests"


class ServerThread:
    """uvicorn in a thread, on a free local port (bound here and handed over: no other
    process can take it between choosing and serving)."""

    def __init__(self, app: object) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield browser
        browser.close()


class Desk:
    """The front desk under test: the reception page, and a card in the desk's reader (which
    the reception terminal never reads: `clinic verify` and the reader page do)."""

    def __init__(self, world: World, url: str, page: Page) -> None:
        self.world = world
        self.url = url
        self.page = page
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

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def desk(world: World, pcscd: Pcscd, browser: Browser) -> Iterator[Desk]:
    """The reception page (no PIN route, no reader) with the card slot of the virtual
    reader beside it."""
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, world.clinic_token)
        web_app = create_clinic_app(client=client, reception_key=RECEPTION_KEY, poll_interval_s=0.1)
        with ServerThread(web_app) as web:
            context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ja-JP")
            page = context.new_page()
            desk = Desk(world, web.url, page)
            page.goto(web.url)
            yield desk
            if desk.slot is not None:
                desk.remove()
            desk.readers.close()
            context.close()
        client.close()


def check_in(
    answer: dict[str, Any] | None = None,
    *,
    failure: Mapping[str, str | None] | None = None,
    method: str = "pin",
    credential: str = "card",
    consents: dict[str, Any] | None = None,
    checked_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A check-in as the reader posts it: `answer` (an EligibilityAnswer as the server sent
    it) or `failure`."""
    return {
        "id": str(uuid.uuid4()),
        "checked_at": (checked_at or japan_now()).isoformat(timespec="seconds"),
        "method": method,
        "outcome": "answered" if answer is not None else "failed",
        "credential": credential,
        "consents": consents
        or {"medication": True, "checkups": False, "limit": True, "prescription": "electronic"},
        "answer": answer,
        "failure": failure,
    }


class Reception:
    """The reception terminal under test: its page, and check-ins posted to it."""

    def __init__(self, world: World, url: str, page: Page) -> None:
        self.world = world
        self.url = url
        self.page = page

    def answer(self, label: str, consents: dict[str, bool] | None = None) -> dict[str, Any]:
        """A real answer of the server to `label`'s card (registered first)."""
        self.world.register(label)
        status, answer = self.world.check(label, consents)
        assert status == 200, answer
        return answer

    def post(self, record: dict[str, Any], key: str | None = RECEPTION_KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.post(f"{self.url}/api/check-ins", json=record, headers=headers)

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def reception(world: World, browser: Browser) -> Iterator[Reception]:
    """The reception page (no card reader: check-ins come from the reader process)."""
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, world.clinic_token)
        web_app = create_clinic_app(
            client=client,
            reception_key=RECEPTION_KEY,
            clinic_code=world.clinic_token.split(".")[0],
            poll_interval_s=0.1,
        )
        with ServerThread(web_app) as web:
            context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ja-JP")
            page = context.new_page()
            page.goto(web.url)
            yield Reception(world, web.url, page)
            context.close()
        client.close()
