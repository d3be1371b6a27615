"""`/docs` (Swagger UI) and `/redoc` (ReDoc) render the server's operations in a real Chromium
that can reach nothing but this machine: their scripts come from the installed package, and
no page asks for any other host (a clinic's network is closed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route

from qualification_server.api.app import create_app
from tests.support.desk import SCREENSHOTS, ServerThread
from tests.support.world import World

pytestmark = pytest.mark.db

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


class OfflinePage:
    """A page whose every request to another host is aborted and kept, to be asserted."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.blocked: list[str] = []
        self.context.route("**/*", self._only_local)
        self.page: Page = self.context.new_page()

    def _only_local(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


@pytest.fixture
def server(world: World) -> Iterator[ServerThread]:
    with ServerThread(create_app(world.deps, seal_interval_s=None, batch_interval_s=None)) as s:
        yield s


@pytest.fixture
def offline(browser: Browser) -> Iterator[OfflinePage]:
    page = OfflinePage(browser)
    yield page
    page.context.close()


def test_the_pages_name_no_other_host(server: ServerThread) -> None:
    for path in ("/docs", "/redoc"):
        response = httpx.get(f"{server.url}{path}")
        html = response.text
        # the browser itself is told to load nothing from elsewhere (ReDoc's bundle would
        # fetch Redocly's logo from its CDN otherwise)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
        assert EXTERNAL.search(html) is None, html
        assert "cdn" not in html.lower()
        assert "/docs-static/" in html


def test_swagger_ui_renders_the_operations_offline(
    server: ServerThread, offline: OfflinePage
) -> None:
    page = offline.page
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 10
    assert page.locator(".opblock-summary-path", has_text="/v1/eligibility/card").count() >= 1
    assert page.locator(".opblock-summary-path", has_text="/readyz").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "docs-qualification-server-swagger.png"))
    assert offline.blocked == []


def test_redoc_renders_the_operations_offline(server: ServerThread, offline: OfflinePage) -> None:
    page = offline.page
    page.goto(f"{server.url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() > 10
    assert page.get_by_text("/v1/eligibility/card").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "docs-qualification-server-redoc.png"))
    assert offline.blocked == []
