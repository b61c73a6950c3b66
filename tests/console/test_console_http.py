"""The console over plain HTTP: CSRF and authorisation refusals, sessions, cookies and headers.

A forged or missing CSRF token, a tampered or expired session and a person without the rights are all
refused, and the refusal changes nothing (checked through the API afterwards).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from console_support import KEYS, Browser, api, csrf_in, example_policies

from interlock.console.session import SESSION_COOKIE, Sessions
from support.gateways import Gateway, GatewayFactory


def test_session_cookie_is_sealed_http_only_same_site_and_secure(console: Gateway, browser: Browser) -> None:
    r = browser.sign_in(console.keys["admin"].key)
    (session_header,) = [h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")]
    attributes = {a.strip().split("=")[0].lower() for a in session_header.split(";")[1:]}
    assert {"path", "max-age", "httponly", "samesite", "secure"} <= attributes
    assert "SameSite=Strict" in session_header
    assert "Path=/console" in session_header
    assert "Max-Age=3600" in session_header
    assert console.keys["admin"].key not in session_header
    page = browser.request("GET", "/console/keys")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_sign_in_needs_the_forms_own_token(console: Gateway, browser: Browser) -> None:
    browser.request("GET", "/console/sign-in")
    r = browser.request("POST", "/console/sign-in", data={"csrf": "made-up", "api_key": console.keys["admin"].key})
    assert r.status_code == 403
    assert "out of date" in r.text
    assert SESSION_COOKIE not in browser.jar


def test_a_bad_key_does_not_sign_in(browser: Browser) -> None:
    r = browser.sign_in("il_not-a-key-anybody-holds-000000000000000")
    assert r.status_code == 401
    assert "Not signed in" in r.text
    assert SESSION_COOKIE not in browser.jar


def test_forms_without_the_sessions_token_are_refused_and_change_nothing(console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    admin = browsers("admin")
    victim = console.create_key("csrf-victim", tenant="acme")
    for token in (None, "", "not-the-token"):
        data = {} if token is None else {"csrf": token}
        r = admin.request("POST", f"/console/keys/{victim.id}/revoke", data=data)
        assert r.status_code == 403, r.text
        assert "did not come from this console" in r.text
    keys = api(console, "admin", "GET", "/admin/keys").json()["data"]
    assert next(k for k in keys if k["id"] == victim.id)["state"] == "active"
    # Another session's token is not this one's.
    other = browsers("admin")
    other_token = csrf_in(other.request("GET", "/console/keys").text)
    r = admin.request("POST", f"/console/keys/{victim.id}/revoke", data={"csrf": other_token})
    assert r.status_code == 403
    # With its own token, the same form works.
    token = csrf_in(admin.request("GET", "/console/keys").text)
    r = admin.request("POST", f"/console/keys/{victim.id}/revoke", data={"csrf": token})
    assert r.status_code == 303
    keys = api(console, "admin", "GET", "/admin/keys").json()["data"]
    assert next(k for k in keys if k["id"] == victim.id)["state"] == "revoked"


def test_the_console_has_no_rights_of_its_own(console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    """A reviewer signed in is refused what the API refuses them, with the API's words."""
    finance = browsers("finance")
    token = csrf_in(finance.request("GET", "/console/approvals").text)
    target = console.create_key("not-yours", tenant="acme")
    r = finance.request("POST", f"/console/keys/{target.id}/revoke", data={"csrf": token})
    assert r.status_code == 403
    assert "needs the admin role" in r.text
    keys = api(console, "admin", "GET", "/admin/keys").json()["data"]
    assert next(k for k in keys if k["id"] == target.id)["state"] == "active"
    for path in ("/console/keys", "/console/audit", "/console/policy", "/console/tools", "/console/audit/req_x"):
        page = finance.request("GET", path)
        assert page.status_code == 403, path
        assert "needs the admin role" in page.text
    r = finance.request("POST", "/console/policy/explain",
                        data={"csrf": token, "principal": "x", "kind": "user", "roles": "", "groups": "",
                              "request": '{"model": "mock", "messages": []}'})
    assert "needs the admin role" in r.text
    # Another tenant's administrator sees none of this tenant's records.
    outsider = console.create_key("outsider-admin", "admin", tenant="default")
    console.keys["outsider-admin"] = outsider
    rid = api(console, "support", "POST", "/v1/chat/completions",
              json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]}).headers["x-request-id"]
    other = browsers("outsider-admin")
    assert other.request("GET", f"/console/audit/{rid}").status_code == 404
    assert other.request("GET", f"/console/audit/{rid}/proof.json").status_code == 404


def test_a_tampered_or_missing_session_is_sent_to_sign_in(console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    admin = browsers("admin")
    sealed = admin.jar[SESSION_COOKIE]
    admin.jar[SESSION_COOKIE] = sealed[:-6] + ("A" * 6 if not sealed.endswith("AAAAAA") else "B" * 6)
    r = admin.request("GET", "/console/keys")
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    anonymous = browsers(None)
    r = anonymous.request("POST", "/console/keys", data={"name": "x"})
    assert r.status_code == 401
    assert "sign in again" in r.text


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(
        console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    admin = browsers("admin")
    other = browsers("admin")
    token = csrf_in(admin.request("GET", "/console/approvals").text)
    copied = admin.jar[SESSION_COOKIE]
    thief = browsers(None)
    thief.jar[SESSION_COOKIE] = copied
    assert thief.request("GET", "/console/keys").status_code == 200
    r = admin.request("POST", "/console/sign-out", data={"csrf": token})
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    assert admin.jar[SESSION_COOKIE] == ""
    assert admin.request("GET", "/console/approvals").status_code == 303
    # The copy taken before sign-out is refused for pages and forms alike, though it has not expired.
    r = thief.request("GET", "/console/keys")
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    r = thief.request("POST", "/console/keys", data={"csrf": token, "name": "after-sign-out"})
    assert r.status_code == 401
    assert "after-sign-out" not in [k["name"] for k in api(console, "admin", "GET", "/admin/keys").json()["data"]]
    # Another session of the same person goes on.
    assert other.request("GET", "/console/keys").status_code == 200


def test_sessions_expire() -> None:
    sessions = Sessions(b"x" * 32, 60, secure=True)
    session = sessions.new("il_key", "ann", "acme", ("admin",))
    sealed = sessions.seal(session)
    assert sessions.open(sealed) == session
    assert session.id
    assert session.id != sessions.new("il_key", "ann", "acme", ("admin",)).id
    assert sessions.open(sealed, now=time.time() + 61) is None
    assert Sessions(b"y" * 32, 60, secure=True).open(sealed) is None
    assert sessions.open("not base64 !") is None
    # A session on an ID token ends when the token does, if that is sooner.
    soon = time.time() + 10
    assert sessions.new("a.b.c", "ann", "acme", (), expires=soon).expires == soon
    assert sessions.new("a.b.c", "ann", "acme", (), expires=soon + 3600).expires <= time.time() + 60


def test_console_off_is_not_served(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory("sqlite", served=False, adjust=lambda tree: tree.update(console={"enabled": False}))
    try:
        r = gw.request("GET", "/console/sign-in")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    finally:
        gw.stop()


def test_forms_are_bounded_and_url_encoded_only(console: Gateway,
                                                browsers: Callable[[str | None], Browser]) -> None:
    admin = browsers("admin")
    token = csrf_in(admin.request("GET", "/console/keys").text)
    huge = admin.request("POST", "/console/keys", data={"csrf": token, "name": "x" * (300 * 1024)})
    assert huge.status_code == 403
    assert "too large" in huge.text
    multipart = admin.request("POST", "/console/keys", files={"csrf": (None, token), "name": (None, "via-multipart")})
    assert multipart.status_code == 403
    assert "forms only" in multipart.text
    names = [k["name"] for k in api(console, "admin", "GET", "/admin/keys").json()["data"]]
    assert "via-multipart" not in names


def test_policy_page_shows_where_the_shadow_set_decides_otherwise(gateway_factory: GatewayFactory) -> None:
    active = example_policies()
    # The candidate lets only analysts use models: a support agent's call is allowed now, not by the candidate.
    candidate = {name: text for name, text in active.items() if name != "models.cedar"}
    candidate["models.cedar"] = ('@id("shadow.models.analysts-only")\n'
                                 'permit (principal in Role::"analyst", action == Action::"invoke_model", resource);\n')
    gw = gateway_factory("sqlite", keys=KEYS, policies=active, shadow_policies=candidate, served=False)
    admin = Browser(gw)
    try:
        r = api(gw, "support", "POST", "/v1/chat/completions",
                json={"model": "mock", "messages": [{"role": "user", "content": "hello"}]})
        assert r.status_code == 200, r.text
        differs = r.headers["x-request-id"]
        agrees = api(gw, "analyst", "POST", "/v1/chat/completions",
                     json={"model": "mock", "messages": [{"role": "user", "content": "hello"}]}).headers["x-request-id"]
        assert admin.sign_in(gw.keys["admin"].key).status_code == 303
        page = admin.request("GET", "/console/policy")
        assert page.status_code == 200, page.text
        shadow_section = page.text[page.text.index("Shadow differences"):page.text.index("<h2>Source</h2>")]
        assert differs in shadow_section
        assert agrees not in shadow_section
        assert "invoke_model: in force <strong>allow</strong>, shadow <strong>deny</strong>" in shadow_section
        source = page.text[page.text.index("<h2>Source</h2>"):]
        assert "models.cedar" in source
        assert "data.cedar" in source
    finally:
        admin.http.close()
        gw.stop()


def test_approving_a_tool_definition_says_why_not_when_there_is_nothing_to_approve(
        console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    admin = browsers("admin")
    token = csrf_in(admin.request("GET", "/console/tools").text)
    r = admin.request("POST", "/console/tools/refund_payment/approve", data={"csrf": token, "digest": ""})
    assert r.status_code == 404
    assert "the MCP gateway is off" in r.text


def test_held_arguments_are_revealed_only_to_a_reviewer_policy_lets_see_them(
        console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    """A held e-mail to an outside address: an administrator sees the recipient (reveal_data permits
    pii.email for send_email), an administrator who is also an analyst sees it masked (forbidden), and
    the phone number in the body stays masked for both (no policy reveals it)."""
    recipient, phone = "jane.doe@partner.example", "+44 20 7946 0958"
    arguments = {"to": [recipient], "subject": "Your case", "body": f"Call me back on {phone} please."}
    r = api(console, "support", "POST", "/v1/chat/completions", json={
        "model": "mock", "messages": [{"role": "user", "content": "Write to the partner."}],
        "mock": {"tool_calls": [{"name": "send_email", "arguments": arguments, "id": "c_mail"}]}})
    assert r.status_code == 200, r.text
    (entry,) = r.json()["interlock"]["tool_calls"]
    assert entry["outcome"] == "held", entry
    approval_id = entry["approval_id"]
    console.keys["admin-analyst"] = console.create_key("admin-analyst", "admin", "analyst", tenant="acme")

    seen = api(console, "admin", "GET", f"/v1/approvals/{approval_id}").json()["arguments"]
    assert seen["to"] == [recipient]
    assert phone not in seen["body"]
    assert "Call me back on" in seen["body"]
    masked = api(console, "admin-analyst", "GET", f"/v1/approvals/{approval_id}").json()["arguments"]
    assert recipient not in json.dumps(masked)
    assert phone not in masked["body"]
    # The requester, whom no policy lets see values here, is shown the masked view too.
    assert recipient not in json.dumps(api(console, "support", "GET", f"/v1/approvals/{approval_id}").json())

    # The console's queue shows each reviewer what the API shows them.
    may, may_not = browsers("admin"), browsers("admin-analyst")
    page = may.request("GET", "/console/approvals")
    card = page.text[page.text.index(f"<code>{approval_id}</code>"):]
    assert recipient in card[:card.find("</article>")]
    page = may_not.request("GET", "/console/approvals")
    assert approval_id in page.text
    assert recipient not in page.text
    assert phone not in page.text
    # Leave the queue as it was for the other tests.
    token = csrf_in(may.request("GET", "/console/approvals").text)
    r = may.request("POST", f"/console/approvals/{approval_id}/decide",
                    data={"csrf": token, "decision": "reject", "reason": "Not to partners."})
    assert r.status_code == 303, r.text
