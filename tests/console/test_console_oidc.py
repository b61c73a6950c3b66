"""Console sign-in through OpenID Connect, against a provider run by the test, driven by the real browser.

The provider issues an ID token for ``ann`` (an administrator of acme) after the authorization-code
flow with PKCE; the console checks the state, the gateway's JWT check verifies the token (signature,
issuer, audience, expiry), and the console checks the nonce. Each way the provider can get it wrong is
refused, and nobody is signed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from console_support import ARTEFACTS, KEYS, Browser, browser_url, example_policies, example_tools
from oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import Page, expect

from interlock.console.oidc import FLOW_COOKIE
from interlock.console.session import SESSION_COOKIE
from interlock.settings import ConfigError, load_settings
from support.gateways import Gateway, GatewayFactory


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    with provider.serving():
        yield provider


@pytest.fixture(scope="module")
def oidc_gateway(gateway_factory: GatewayFactory, idp: OidcProvider) -> Iterator[Gateway]:
    gw = gateway_factory("sqlite", keys=KEYS, policies=example_policies(), adjust=example_tools, start=False)
    tree = yaml.safe_load(gw.config.read_text(encoding="utf-8"))
    tree.pop("use_cases")
    tree["identity"]["jwt"] = {"issuer": idp.issuer, "audience": CLIENT_ID, "jwks_url": f"{idp.issuer}/jwks"}
    tree["console"]["oidc"] = {"issuer": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                               "redirect_url": f"{browser_url(gw)}/console/oidc/callback", "name": "Test IdP"}
    gw.config.write_text(yaml.safe_dump(tree), encoding="utf-8")
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def page(chromium: Chromium) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1100, "height": 760})
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def well_behaved(idp: OidcProvider) -> Iterator[None]:
    idp.misbehave = None
    yield
    idp.misbehave = None


def start_sign_in(page: Page, gw: Gateway) -> None:
    page.goto(browser_url(gw) + "/console/sign-in")
    page.get_by_role("link", name="Sign in with Test IdP").click()


def test_sign_in_through_the_identity_provider(oidc_gateway: Gateway, idp: OidcProvider, page: Page) -> None:
    page.goto(browser_url(oidc_gateway) + "/console/sign-in")
    page.screenshot(path=str(ARTEFACTS / "sign-in-oidc.png"), full_page=True)
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page).to_have_url(re.compile(r"/console/approvals$"))
    expect(page.get_by_role("heading", name="My approval queue")).to_be_visible()
    expect(page.get_by_text("ann (acme)")).to_be_visible()
    # PKCE: the verifier sent to the token endpoint matched the challenge sent to the authorize endpoint.
    verifier, matched = idp.exchanges[-1]
    assert matched
    assert len(verifier) >= 43
    # The API accepts the ID token as ann's bearer: an administrator's page works.
    page.get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert (session["httpOnly"], session["sameSite"]) == (True, "Strict")
    assert FLOW_COOKIE not in cookies
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))


@pytest.mark.parametrize(("misbehave", "message"), [
    ("state", "its state does not match"),
    ("nonce", "its nonce does not match"),
    ("issuer", "issued by an untrusted issuer"),
    ("audience", "issued for another audience"),
])
def test_a_wrong_answer_from_the_provider_signs_nobody_in(oidc_gateway: Gateway, idp: OidcProvider, page: Page,
                                                          misbehave: str, message: str) -> None:
    idp.misbehave = misbehave
    start_sign_in(page, oidc_gateway)
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    page.screenshot(path=str(ARTEFACTS / f"sign-in-oidc-refused-{misbehave}.png"), full_page=True)
    page.goto(browser_url(oidc_gateway) + "/console/approvals")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))


def test_a_callback_not_started_here_is_refused(oidc_gateway: Gateway, idp: OidcProvider) -> None:
    """A code and state pasted into another browser (no flow cookie) sign nobody in, nor does the
    provider's error; the flow starts with an S256 challenge and a Lax, HTTP-only flow cookie."""
    b = Browser(oidc_gateway)
    try:
        r = b.request("GET", "/console/oidc/callback", params={"code": "anything", "state": "anything"})
        assert r.status_code == 401
        assert "not started here" in r.text
        assert SESSION_COOKIE not in b.jar
        r = b.request("GET", "/console/oidc/callback", params={"error": "access_denied"})
        assert r.status_code == 401
        assert "access_denied" in r.text
        # The flow as a browser starts it: the provider's redirect carries a state the flow cookie holds.
        start = b.request("GET", "/console/oidc/start")
        assert start.status_code == 303
        assert start.headers["location"].startswith(f"{idp.issuer}/authorize?")
        assert "code_challenge_method=S256" in start.headers["location"]
        flow_header = next(h for h in start.headers.get_list("set-cookie") if h.startswith(FLOW_COOKIE + "="))
        assert "SameSite=Lax" in flow_header
        assert "HttpOnly" in flow_header
    finally:
        b.http.close()


def test_oidc_needs_the_jwt_check_to_trust_the_provider(tmp_path: Path) -> None:
    path = tmp_path / "interlock.yaml"
    path.write_text(yaml.safe_dump({"console": {"oidc": {
        "issuer": "https://idp.example", "client_id": "c", "redirect_url": "https://gw.example/console/oidc/callback"}}}))
    with pytest.raises(ConfigError, match=r"identity\.jwt must trust the same issuer"):
        load_settings(path)
