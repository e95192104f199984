"""Browser test harness: the app on a live loopback server, and Debian's Chromium driven by Playwright.

Reusable by every area:

    pytestmark = [pytest.mark.integration, pytest.mark.browser]

    def test_something(live_server, page):
        page.goto(live_server.url + "/auth/login")
        ...
        save_screenshot(page, "my-page")

`live_server` serves the test's own `app` (same database, same settings dict: change
`app.config["HELPDESK"]` and the server sees it) with werkzeug in a thread, on a free port.
`page` is a fresh browser context per test (no cookies shared between tests) that refuses every
request to another host and records it in `page.foreign_requests` (a list of URLs), so a test can
assert that nothing left for the network. Never `playwright install`: we drive /usr/bin/chromium.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("HELPDESK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
ARTIFACTS = Path(os.environ.get("HELPDESK_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")


@dataclass
class LiveServer:
    """A werkzeug server running `app` in a thread on 127.0.0.1:<free port>."""

    app: object
    host: str = "127.0.0.1"
    port: int = 0
    _server: object = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "LiveServer":
        self._server = make_server(self.host, 0, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def save_screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save a PNG of the page under $HELPDESK_TEST_ARTIFACTS/screenshots/<name>.png and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    path = ARTIFACTS / "screenshots" / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def live_server(app):
    """The test's app served on a free loopback port; base_url points at it so mailed links work."""
    server = LiveServer(app).start()
    previous = app.config["HELPDESK"]["base_url"]
    app.config["HELPDESK"]["base_url"] = server.url
    yield server
    app.config["HELPDESK"]["base_url"] = previous
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap.sh test (installs Debian's chromium)")
    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    playwright.stop()


def _open_context(browser, live_server, **options):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, "locale": "fr-FR", **options})
    context.set_default_timeout(15_000)
    local = urlsplit(live_server.url).netloc
    foreign: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("data:", "about:", "blob:")) or urlsplit(url).netloc == local:
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    context.route("**/*", guard)
    return context, foreign


@pytest.fixture
def page(browser, live_server):
    """A fresh context and page; requests to other hosts are refused and listed in page.foreign_requests."""
    context, foreign = _open_context(browser, live_server)
    tab = context.new_page()
    tab.foreign_requests = foreign
    yield tab
    context.close()


@pytest.fixture
def new_page(browser, live_server):
    """A factory for more pages, each in its own context (a second person), e.g. a phone-sized one."""
    contexts = []

    def make(**options):
        context, foreign = _open_context(browser, live_server, **options)
        contexts.append(context)
        tab = context.new_page()
        tab.foreign_requests = foreign
        return tab

    yield make
    for context in contexts:
        context.close()


def sign_in_with_password(page, live_server, email: str, password: str) -> None:
    """Fill the sign-in form as a person would."""
    page.goto(live_server.url + "/auth/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
