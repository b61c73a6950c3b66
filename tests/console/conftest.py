"""Fixtures for the console: one served gateway for the module, and a real headless browser.

The browser is Debian's chromium driven by Playwright (no browser download); without it the browser
tests fail, they never skip. Screenshots of every page go to tmp/artefacts/console/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from console_support import ARTEFACTS, CHROMIUM, Browser, console_gateway

from support.gateways import Gateway, GatewayFactory


@pytest.fixture(scope="module")
def console(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """The example deployment served on a real port, with the console on (store-independent: SQLite)."""
    gw = console_gateway(gateway_factory, "sqlite")
    yield gw
    gw.stop()


# Module scope, not session: Playwright's sync API runs an event loop in this thread while it is
# started, and the async tests of the rest of the suite need the thread without one.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does: scripts/system-test-deps.sh)")
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browsers(console: Gateway) -> Iterator[Callable[[str | None], Browser]]:
    """``browsers(who)``: a plain HTTP client signed in as ``who`` (None: not signed in); all closed afterwards."""
    opened: list[Browser] = []

    def make(who: str | None) -> Browser:
        b = Browser(console)
        opened.append(b)
        if who is not None:
            r = b.sign_in(console.keys[who].key)
            assert r.status_code == 303, r.text
            assert r.headers["location"] == "/console/approvals"
        return b

    yield make
    for b in opened:
        b.http.close()


@pytest.fixture
def browser(browsers: Callable[[str | None], Browser]) -> Browser:
    return browsers(None)
