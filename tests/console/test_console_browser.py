"""The console driven by a real headless browser (Debian's chromium through Playwright).

Each flow is what a person does: sign in, decide a held tool call (and the agent then resumes or is
refused), search the audit log and verify a record, explain a request, revoke a key. Every page is
screenshotted into tmp/artefacts/console/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import ARTEFACTS, api, browser_url, hold_refund, resume
from playwright.sync_api import Browser, Page, Route, expect

from interlock.audit.export import ProofBundleError, verify_proof_bundle
from support.gateways import Gateway


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1100, "height": 760}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, gw: Gateway, who: str) -> None:
    page.goto(browser_url(gw) + "/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    page.get_by_label("API key").fill(gw.keys[who].key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/approvals$"))
    expect(page.get_by_role("heading", name="My approval queue")).to_be_visible()


def card(page: Page, approval_id: str) -> Any:
    return page.locator("article.approval").filter(has_text=approval_id)


def test_sign_in_with_a_key_and_out_again(console: Gateway, browser_page: Page, chromium: Browser) -> None:
    page = browser_page
    page.goto(browser_url(console) + "/console/sign-in")
    shot(page, "sign-in")
    page.get_by_label("API key").fill("sk-il-not-a-real-key-at-all-0000000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Not signed in")
    sign_in(page, console, "finance")
    cookie = next(c for c in page.context.cookies() if c["name"] == "interlock_console")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (True, True, "Strict",
                                                                                          "/console")
    assert console.keys["finance"].key not in cookie["value"]
    expect(page.get_by_text("finance (acme)")).to_be_visible()
    # Another browser given a copy of the cookie is signed in with it...
    other = chromium.new_context()
    try:
        other.add_cookies([cookie])  # type: ignore[list-item]
        stolen = other.new_page()
        stolen.goto(browser_url(console) + "/console/approvals")
        expect(stolen.get_by_role("heading", name="My approval queue")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/console/sign-in$"))
        page.goto(browser_url(console) + "/console/approvals")
        expect(page).to_have_url(re.compile(r"/console/sign-in$"))
        # ...until the person signs out: the copy is refused too, though it has not expired.
        stolen.goto(browser_url(console) + "/console/approvals")
        expect(stolen).to_have_url(re.compile(r"/console/sign-in$"))
    finally:
        other.close()


def test_approve_a_held_call_and_the_agent_resumes_with_the_edited_amount(console: Gateway,
                                                                             browser_page: Page) -> None:
    page = browser_page
    sign_in(page, console, "finance")
    messages, approval_id = hold_refund(console, 800, "pay_B1", "c_b1")
    # The queue refreshes itself: the new request appears without a reload.
    item = card(page, approval_id)
    expect(item).to_be_visible(timeout=10_000)
    expect(item).to_contain_text("refund_payment")
    expect(item).to_contain_text("support")
    expect(item).to_contain_text("0 of 1 approvals")
    expect(item).to_contain_text("tools.refund-approval")
    shot(page, "approvals")
    item.get_by_label("amount").fill("250")
    item.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Your decision on {approval_id} is recorded: the "
                                                             "request is approved.")
    expect(card(page, approval_id)).to_have_count(0)

    answer = resume(console, messages, approval_id)
    assert answer.status_code == 200, answer.text
    (tc,) = answer.json()["choices"][0]["message"]["tool_calls"]
    assert json.loads(tc["function"]["arguments"]) == {"payment_id": "pay_B1", "amount": 250, "currency": "EUR"}
    view = api(console, "support", "GET", f"/v1/approvals/{approval_id}").json()
    assert view["state"] == "used"
    assert [(v["by"], v["edited"]) for v in view["votes"]] == [("finance", ["amount"])]


def test_reject_a_held_call_with_a_reason_and_the_agent_is_refused(console: Gateway, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, console, "finance")
    messages, approval_id = hold_refund(console, 400, "pay_C1", "c_c1")
    page.reload()
    item = card(page, approval_id)
    item.get_by_role("button", name="Reject").click()
    # Rejecting needs a reason: nothing is decided without one.
    expect(page.get_by_role("alert")).to_contain_text("Give a reason when you reject")
    assert api(console, "support", "GET", f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    item = card(page, approval_id)
    item.get_by_label("Reason").fill("Already refunded last week.")
    item.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status").first).to_contain_text("the request is rejected")

    answer = resume(console, messages, approval_id)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "approval_rejected"
    view = api(console, "support", "GET", f"/v1/approvals/{approval_id}").json()
    assert view["state"] == "rejected"
    assert view["votes"][0]["reason"] == "Already refunded last week."


def test_search_the_audit_log_verify_a_record_and_export_its_proof(console: Gateway, browser_page: Page) -> None:
    r = api(console, "analyst", "POST", "/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": "Mail jane.doe@example.com please."}]})
    assert r.status_code == 200, r.text
    request_id = r.headers["x-request-id"]
    page = browser_page
    sign_in(page, console, "admin")
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Principal").fill("analyst")
    page.get_by_label("Data class").fill("pii.email")
    page.get_by_label("Outcome").select_option("ok")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("analyst")
    expect(rows.first).to_contain_text("pii.email")
    shot(page, "audit-search")
    page.get_by_role("link", name=request_id).click()
    expect(page.get_by_role("heading", name=f"Record {request_id}")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("authorize")
    expect(page.get_by_role("heading", name="Stage timings")).to_be_visible()
    page.get_by_role("button", name="Verify", exact=True).click()
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("Verified: this record is entry")
    expect(verdict).to_contain_text("its contents are as signed")
    # The browser checks the same bundle itself (Web Crypto), against the audit key the page names.
    page.get_by_role("button", name="Verify in this browser").click()
    in_browser = page.locator("#browser-verdict")
    expect(in_browser).to_contain_text("Verified in this browser: entry")
    shot(page, "audit-record")
    # A bundle changed on its way is caught there too.
    def forge(route: Route) -> None:
        doc = route.fetch().json()
        doc["record"] = doc["record"].replace('"analyst"', '"someone"')
        route.fulfill(json=doc)

    page.route("**/proof.json", forge)
    page.get_by_role("button", name="Verify in this browser").click()
    expect(in_browser).to_contain_text("Not verified: the record's path does not lead to the signed root")
    page.unroute("**/proof.json")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export proof bundle").click()
    bundle = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert bundle["format"] == "interlock-audit-proof/1"
    assert json.loads(bundle["record"])["request_id"] == request_id
    # The bundle stands on its own: it checks without the gateway, and a changed record does not pass.
    assert verify_proof_bundle(bundle).tree_size == bundle["tree_size"]
    forged = {**bundle, "record": bundle["record"].replace('"analyst"', '"someone"')}
    with pytest.raises(ProofBundleError):
        verify_proof_bundle(forged)


def test_explain_a_request(console: Gateway, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, console, "admin")
    page.get_by_role("link", name="Policy").click()
    expect(page.get_by_text("none configured")).to_be_visible()
    page.get_by_label("Principal id").fill("someone")
    page.get_by_label("Chat request (JSON)").fill(json.dumps(
        {"model": "mock", "messages": [{"role": "user", "content": "My card is 4111 1111 1111 1111."}]}))
    page.get_by_role("button", name="Explain").click()
    explanation = page.locator("#explanation")
    expect(explanation).to_contain_text("It would be sent to the model.")
    expect(explanation).to_contain_text("pci.card_number → mask")
    expect(explanation).to_contain_text("data.cards-masked")
    shot(page, "policy-explain")
    page.get_by_label("Chat request (JSON)").fill(json.dumps(
        {"model": "no-such-model", "messages": [{"role": "user", "content": "Hello."}]}))
    page.get_by_role("button", name="Explain").click()
    expect(explanation).to_contain_text("It would be refused at the")
    expect(explanation).to_contain_text("no-such-model")
    page.get_by_label("Chat request (JSON)").fill("{not json")
    page.get_by_role("button", name="Explain").click()
    expect(page.get_by_role("alert")).to_contain_text("The request is not JSON")


def test_create_a_key_shown_once_then_revoke_it(console: Gateway, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, console, "admin")
    page.get_by_role("link", name="Keys").click()
    page.get_by_label("Name", exact=True).fill("temp-bot")
    page.get_by_label("Kind").select_option("service")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("it is shown this once")).to_be_visible()
    key = page.get_by_label("Key", exact=True).input_value()
    shot(page, "keys")
    assert console.request("GET", "/v1/models", headers={"authorization": f"Bearer {key}"}).status_code == 200
    page.reload()
    expect(page.get_by_text("it is shown this once")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke temp-bot").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    refused = console.request("GET", "/v1/models", headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    expect(page.get_by_role("row").filter(has_text="temp-bot")).to_contain_text("revoked")


def test_a_reviewer_without_the_admin_role_is_refused_the_admin_pages(console: Gateway, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, console, "finance")
    for section in ("Keys", "Audit", "Policy", "Tools"):
        page.get_by_role("link", name=section).click()
        expect(page.get_by_role("alert")).to_contain_text("needs the admin role")
    shot(page, "refused")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console, "admin")
    page.get_by_role("link", name="Tools").click()
    expect(page.get_by_role("heading", name="Tools")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="refund_payment")).to_contain_text("not_proxied")
    shot(page, "tools")


def test_the_keyboard_alone_signs_in_and_decides(console: Gateway, browser_page: Page) -> None:
    page = browser_page
    page.goto(browser_url(console) + "/console/sign-in")
    # The key field has the focus (typing before the page has given it would lose keys); the first Tab stop
    # of every page is the skip link.
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(console.keys["finance"].key)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/approvals$"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    messages, approval_id = hold_refund(console, 120, "pay_K1", "c_k1")
    page.reload()
    item = card(page, approval_id)
    item.get_by_label("Reason").focus()
    page.keyboard.type("Fine by me.")
    page.keyboard.press("Tab")
    expect(item.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("the request is approved")
    assert resume(console, messages, approval_id).status_code == 200


def test_an_owner_reads_their_use_case_and_an_administrator_the_cost(console: Gateway, browser_page: Page) -> None:
    page = browser_page
    for i in range(3):
        r = api(console, "support", "POST", "/v1/chat/completions",
                json={"model": "mock", "messages": [{"role": "user", "content": f"Order {i}?"}]})
        assert r.status_code == 200, r.text
    api(console, "support", "POST", "/v1/feedback", json={"request_id": r.headers["x-request-id"], "score": 1})
    console.cli(["gate"], "support-assistant", check=False, env=console.env)
    sign_in(page, console, "olly")
    page.get_by_role("link", name="Use cases").click()
    expect(page.get_by_role("heading", name="Use cases")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="kb-bot")).to_have_count(0)
    shot(page, "usecases")
    page.get_by_role("link", name="support-assistant").click()
    expect(page.get_by_role("heading", name="support-assistant")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="owner set")).to_contain_text("pass")
    expect(page.get_by_role("row").filter(has_text="evaluations pass")).to_contain_text("fail")
    expect(page.get_by_role("row").filter(has_text="support-daily acme")).to_contain_text("$5.00")
    chart = page.get_by_role("img", name=re.compile("Cost per day"))
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(14)
    page.get_by_label("Period", exact=True).select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(chart.locator("rect")).to_have_count(7)
    expect(page.get_by_text("feedback record")).to_be_visible()
    shot(page, "usecase")
    # Another owner's use case is refused with the policy's reason.
    page.goto(browser_url(console) + "/console/usecases/kb-bot")
    expect(page.get_by_role("alert")).to_contain_text("Policy does not let you read the use case 'kb-bot'")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, console, "admin")
    page.get_by_role("link", name="Cost").click()
    expect(page.get_by_role("table").filter(has_text="Cost per day by use case")).to_contain_text("support-assistant")
    page.get_by_role("link", name="model").click()
    expect(page.get_by_role("table").filter(has_text="Cost per day by model")).to_contain_text("mock")
    expect(page.get_by_role("row").filter(has_text="support-assistant").last).to_contain_text("per task")
    shot(page, "cost")
