"""examples/showcase.py in a real browser: Debian's Chromium, headless, driven by
Playwright, against the showcase served by uvicorn.

Nothing downloads a browser: Playwright starts ``/usr/bin/chromium`` (the
``chromium`` package, which .ci/run installs). Without it, or without the
``playwright`` package, the tests skip, except under CI (``CI`` set), where
they fail: there the browser test must run.

Each test records every request its pages make: all must go to the server
under test, and no page may log an error (a blocked request, a script error).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from serverkit import Server, Servers

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = pytest.mark.servers

SHOWCASE = "examples.showcase:app"
CHROMIUM = Path("/usr/bin/chromium")
# Nothing but the pages under test: no background requests to Google's
# services, no component updates, no QUIC probes.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Even so, Debian's chromium (whose wrapper turns on Google's API keys and
    # remote extensions) looks up update.googleapis.com and accounts.google.com
    # at start: every host name resolves to nothing, and no DNS query leaves.
    # The server is reached at 127.0.0.1, which needs no lookup.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
#: Bound of every wait for the page (milliseconds).
WAIT_MS = 10_000
LAUNCH_TIMEOUT_MS = 30_000


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = missing_browser()
    if reason is not None:
        if under_ci():
            pytest.fail(f"{reason}: CI is set, and in CI the browser test must run")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(servers: Servers, request: pytest.FixtureRequest) -> Server:
    """The showcase served by uvicorn, or by the server a test names (indirect parameter)."""
    return servers.get(getattr(request, "param", "uvicorn"), SHOWCASE)


class Watch:
    """What the pages of a browser context asked for, and the errors they met."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []

    def attach(self, context: BrowserContext) -> None:
        context.on("request", lambda request: self.urls.append(request.url))
        context.on("response", self._response)
        context.on("page", self._page)

    def _response(self, response: Any) -> None:
        # The browser asks for /favicon.ico by itself where a page names no icon
        # (the JSON answers): the showcase has none.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.errors.append(f"{response.status} for {response.url}")

    def _page(self, page: Any) -> None:
        page.on("websocket", lambda socket: self.urls.append(socket.url))
        page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A failed load is logged as "Failed to load resource", without its
        # address: _response has judged it already.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(WAIT_MS)
    watch = Watch()
    watch.attach(context)
    try:
        yield context
    finally:
        context.close()
    origins = (server.url + "/", server.url.replace("http://", "ws://", 1) + "/")
    assert watch.urls, "no request recorded"
    assert [url for url in watch.urls if not url.startswith(origins)] == []
    assert watch.errors == [], server.describe()
    assert "Traceback" not in server.log(), server.describe()


def test_chat_message_arrives_in_another_page(context: BrowserContext) -> None:
    from playwright.sync_api import expect

    ada, bob = context.new_page(), context.new_page()
    for page in (ada, bob):
        page.goto("/chat")
        expect(page.locator("#interface")).to_have_text("ASGI")
        # Sending before the socket is open would lose the message.
        expect(page.locator("#status")).to_have_text("connected")
    # Ada's tab in front (a background tab's animation frames are throttled, which
    # slows Playwright's clicks down); Bob's page, behind it, still gets the message.
    ada.bring_to_front()
    text = f"hello from ada {uuid.uuid4().hex[:8]}"
    ada.fill("#name", "ada")
    ada.fill("#text", text)
    ada.click("#send-button")
    expect(bob.locator("#log")).to_contain_text(f"ada: {text}")
    expect(ada.locator("#log")).to_contain_text(f"ada: {text}")
    expect(ada.locator("#text")).to_have_value("")  # the input is cleared once sent


def test_uploaded_file_size_is_shown(context: BrowserContext) -> None:
    from playwright.sync_api import expect

    # Several of the server's 64 KiB chunks, and not a round number.
    content = os.urandom(300_001)
    page = context.new_page()
    page.goto("/upload")
    page.set_input_files(
        'input[name="file"]',
        files=[{"name": "random.bin", "mimeType": "application/octet-stream", "buffer": content}],
    )
    page.click("#upload")
    expect(page.locator("h1")).to_have_text("Uploaded")
    expect(page.locator("#size")).to_have_text("300001")
    expect(page.locator("#filename")).to_have_text("random.bin")
    expect(page.locator("#sha256")).to_have_text(hashlib.sha256(content).hexdigest())


def test_clock_ticks(context: BrowserContext) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto("/clock")
    count = page.locator("#count")
    expect(count).to_have_text(re.compile(r"^\d+$"))
    first = int(count.text_content() or "")
    # The next tick comes TICK_SECONDS (1 s) later: the count goes up.
    page.wait_for_function(
        "first => Number(document.getElementById('count').textContent) > first",
        arg=first,
        timeout=WAIT_MS,
    )
    assert int(count.text_content() or "") > first
    expect(page.locator("#time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    expect(page.locator("#state")).to_have_text("")


@pytest.mark.parametrize("path", ["/", "/api/sync", "/routes", "/legacy/"])
def test_pages_render(context: BrowserContext, path: str) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    response = page.goto(path)
    assert response is not None
    assert response.status == 200
    if path == "/api/sync":
        assert '"interface":"asgi"' in (page.text_content("body") or "")
    elif path == "/legacy/":
        # Flask's link, made by its url_for under the mount, leads to its page.
        page.click("#hello")
        expect(page.locator("p")).to_have_text("Hello, world!")
    else:
        expect(page.locator("#interface")).to_have_text("ASGI")
        expect(page.locator("#server")).to_have_text("python -m uvicorn")


@pytest.mark.parametrize("server", ["gunicorn-sync"], indirect=True)
def test_under_wsgi_the_clock_ticks_and_the_chat_says_it_is_off(context: BrowserContext) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto("/chat")
    expect(page.locator("#interface")).to_have_text("WSGI")
    expect(page.locator("#status")).to_have_text("off (WebSockets need an ASGI server)")
    expect(page.locator("#send-button")).to_be_disabled()
    # One event per response: the browser reconnects for each tick, sending
    # Last-Event-ID, and the count goes on (the sync worker is free between ticks).
    page.goto("/clock")
    count = page.locator("#count")
    expect(count).to_have_text(re.compile(r"^\d+$"))
    first = int(count.text_content() or "")
    page.wait_for_function(
        "first => Number(document.getElementById('count').textContent) > first + 1",
        arg=first,
        timeout=WAIT_MS,
    )
    expect(page.locator("#state")).to_have_text("")
    # Meanwhile the only worker still answers other requests.
    other = context.new_page()
    other.goto("/")
    expect(other.locator("#interface")).to_have_text("WSGI")
