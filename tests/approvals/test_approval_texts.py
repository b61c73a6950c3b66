"""Free text in approval requests passes the same detection and policy as a prompt, on both stores: a
blocked class refuses the write, a masked one is masked for good, a redacted one is stored as a
placeholder and shown again only to readers policy lets see its class."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from approvals_support import WEBHOOK_SECRET, WebhookReceiver, approvals_gateway, headers_for

from support.gateways import Gateway, GatewayFactory
from support.stores import STORES, execute, query

CARD = "4111 1111 1111 1111"
EMAIL = "bob@example.com"
OTHER_EMAIL = "carol@example.org"
SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
# Ron reviews, but policy does not let him see e-mail addresses again.
RON_SEES_NO_EMAILS = """\
@id("t.ron-no-emails")
forbid (principal == User::"ron", action == Action::"restore_data", resource == DataClass::"pii.email");
"""


@pytest.fixture(scope="module", params=STORES)
def gw(request: pytest.FixtureRequest, gateway_factory: GatewayFactory, webhook_receiver: WebhookReceiver,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("approval-texts")
    secret_file = directory / "webhook.secret"
    secret_file.write_text(WEBHOOK_SECRET, encoding="utf-8")
    gateway = approvals_gateway(gateway_factory, request.param, webhook_receiver.url, secret_file, directory,
                                served=False, extra_policies={"restore-limits.cedar": RON_SEES_NO_EMAILS})
    yield gateway
    gateway.stop()


def stored(gw: Gateway) -> str:
    """Everything the store holds about approvals and in the audit log, as text."""
    docs = [bytes(doc).decode() for (doc,) in query(gw.store_url, "SELECT doc FROM approvals")]
    records = [bytes(rec).decode() for (rec,) in query(gw.store_url, "SELECT record FROM audit_log")]
    payloads = [bytes(body).decode() for (body,) in query(gw.store_url, "SELECT body FROM audit_payload")]
    return "\n".join(docs + records + payloads)


def as_(gw: Gateway, who: str) -> dict[str, str]:
    return headers_for(gw, who)


def approvals_count(gw: Gateway) -> int:
    return int(query(gw.store_url, "SELECT COUNT(*) FROM approvals")[0][0])


def test_a_proposal_is_stored_protected_and_shown_as_each_reader_may_see_it(gw: Gateway) -> None:
    proposal = {"title": f"Refund {EMAIL}", "details": f"Card {CARD}, contact {EMAIL}.",
                "reason": f"{EMAIL} asked twice"}
    with gw.http() as c:
        r = c.post("/v1/approvals", json=proposal, headers=as_(gw, "alice"))
        assert r.status_code == 201, r.text
        approval_id = r.json()["id"]
        # The writer may see e-mails again; the card is masked for good (the built-in policy masks cards).
        assert r.json()["details"] == f"Card ****1111, contact {EMAIL}."
        rita = c.get(f"/v1/approvals/{approval_id}", headers=as_(gw, "rita")).json()
        ron = c.get(f"/v1/approvals/{approval_id}", headers=as_(gw, "ron")).json()
        ron_queue = c.get("/admin/approvals", headers=as_(gw, "ron")).json()["data"]
    assert (rita["title"], rita["details"], rita["reason"]) == (
        f"Refund {EMAIL}", f"Card ****1111, contact {EMAIL}.", f"{EMAIL} asked twice")
    assert (ron["title"], ron["details"], ron["reason"]) == (
        "Refund [EMAIL_1]", "Card ****1111, contact [EMAIL_1].", "[EMAIL_1] asked twice")
    assert next(a for a in ron_queue if a["id"] == approval_id)["details"] == "Card ****1111, contact [EMAIL_1]."
    everything = stored(gw)
    assert approval_id in everything
    assert EMAIL not in everything
    assert CARD not in everything
    assert CARD.replace(" ", "") not in everything


@pytest.mark.parametrize("field", ["title", "details", "reason"])
def test_a_blocked_class_in_any_field_refuses_the_proposal(gw: Gateway, field: str) -> None:
    proposal: dict[str, Any] = {"title": "Rotate the token", "details": "Soon.", "reason": ""}
    proposal[field] = f"{proposal[field]} {SECRET}"
    before = approvals_count(gw)
    with gw.http() as c:
        r = c.post("/v1/approvals", json=proposal, headers=as_(gw, "alice"))
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("data_blocked", field)
    assert error["request_id"] == r.headers["x-request-id"]
    assert SECRET not in r.text
    assert approvals_count(gw) == before
    assert SECRET not in stored(gw)


def test_an_approvers_reason_is_protected_too(gw: Gateway) -> None:
    with gw.http() as c:
        approval_id = c.post("/v1/approvals", json={"title": "Publish", "details": "Prices."},
                             headers=as_(gw, "alice")).json()["id"]
        decide = f"/admin/approvals/{approval_id}/decide"
        blocked = c.post(decide, json={"decision": "reject", "reason": f"leaked {SECRET}"}, headers=as_(gw, "rita"))
        assert blocked.status_code == 403, blocked.text
        assert blocked.json()["error"]["code"] == "data_blocked"
        assert c.get(f"/v1/approvals/{approval_id}", headers=as_(gw, "alice")).json()["state"] == "pending"
        r = c.post(decide, json={"decision": "reject", "reason": f"ask {OTHER_EMAIL} first"}, headers=as_(gw, "rita"))
        assert r.status_code == 200, r.text
        alice = c.get(f"/v1/approvals/{approval_id}", headers=as_(gw, "alice")).json()
        ron = c.get(f"/v1/approvals/{approval_id}", headers=as_(gw, "ron")).json()
    assert (alice["votes"][0]["reason"], alice["outcome_reason"]) == (f"ask {OTHER_EMAIL} first",) * 2
    assert (ron["votes"][0]["reason"], ron["outcome_reason"]) == ("ask [EMAIL_1] first",) * 2
    assert "reason_sealed" not in json.dumps(alice)
    assert OTHER_EMAIL not in stored(gw)
    assert SECRET not in stored(gw)


def test_the_sealed_values_open_only_for_their_own_request(gw: Gateway) -> None:
    with gw.http() as c:
        first = c.post("/v1/approvals", json={"title": "A", "details": f"mail {EMAIL}"}, headers=as_(gw, "alice"))
        second = c.post("/v1/approvals", json={"title": "B", "details": "mail [EMAIL_1]"}, headers=as_(gw, "alice"))
        assert first.status_code == second.status_code == 201
        first_id, second_id = first.json()["id"], second.json()["id"]
        docs = {k: json.loads(bytes(v)) for k, v in query(
            gw.store_url, "SELECT id, doc FROM approvals WHERE id IN (?, ?)", first_id, second_id)}
        assert docs[first_id]["texts_sealed"]
        assert docs[second_id].get("texts_sealed") is None
        # Moved onto another request, the sealed values do not open: the request is not shown at all.
        docs[second_id]["texts_sealed"] = docs[first_id]["texts_sealed"]
        execute(gw.store_url, ("UPDATE approvals SET doc = ? WHERE id = ?",
                               (json.dumps(docs[second_id]).encode(), second_id)))
        r = c.get(f"/v1/approvals/{second_id}", headers=as_(gw, "rita"))
    assert r.status_code == 500
    assert EMAIL not in r.text


def test_listing_without_the_gateway_shows_no_value(gw: Gateway) -> None:
    """The command line reads the same actions: ron sees the placeholder there too."""
    with gw.http() as c:
        approval_id = c.post("/v1/approvals", json={"title": "C", "details": f"mail {EMAIL}"},
                             headers=as_(gw, "alice")).json()["id"]
    out = gw.cli(["approvals", "show"], approval_id, "--json", env={"INTERLOCK_API_KEY": gw.keys["ron"].key})
    assert json.loads(out.stdout)["details"] == "mail [EMAIL_1]"
    out = gw.cli(["approvals", "show"], approval_id, "--json", env={"INTERLOCK_API_KEY": gw.keys["rita"].key})
    assert json.loads(out.stdout)["details"] == f"mail {EMAIL}"
