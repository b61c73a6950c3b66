"""The approvals API over real HTTP against a running gateway: proposals, long-polls woken by a decision,
who may see and decide, bad input, expiry, signed webhooks and the audit trail."""

from __future__ import annotations

import concurrent.futures
import functools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from approvals_support import WEBHOOK_SECRET, WebhookReceiver, headers_for

from support.gateways import Gateway
from support.processes import wait_until

Headers = Callable[..., dict[str, str]]
SECRET_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def propose(client: httpx.Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"title": "Publish the Q3 price list", "details": "New prices from 1 October.", **fields}
    r = client.post("/v1/approvals", json=body, headers=headers)
    assert r.status_code == 201, r.text
    view: dict[str, Any] = r.json()
    return view


def refused(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == r.headers["x-request-id"]
    assert len(error["message"]) > 10
    return error


def long_poll(gw: Gateway, approval_id: str, headers: dict[str, str], timeout: float) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    with gw.http(timeout=timeout + 10) as c:
        r = c.get(f"/v1/approvals/{approval_id}/wait", params={"timeout": timeout}, headers=headers)
    return time.monotonic() - started, r


def approval_records(gw: Gateway, approval_id: str) -> list[dict[str, Any]]:
    """The request's lifecycle records (refused decision attempts are checked on their own)."""
    return [r for r in gw.records()
            if r.get("approval_id") == approval_id and r.get("event") != "approval.decision_refused"]


def test_a_proposal_waits_for_an_approver_and_wakes_the_long_poll(
        approvals_gw: Gateway, client: httpx.Client, as_user: Headers, webhook_receiver: WebhookReceiver) -> None:
    proposal = {"title": "Rotate the deploy token",
                "details": f"The old one is {SECRET_TOKEN}; questions to bob@example.com.",
                "reason": "it leaked into a ticket"}
    # Stored text passes the policy a prompt does: a secret (blocked by the built-in policy) refuses the write.
    r = client.post("/v1/approvals", headers=as_user("alice"), json=proposal)
    error = refused(r, 403, "data_blocked")
    assert error["param"] == "details"
    assert SECRET_TOKEN not in r.text
    proposal["details"] = "The old one is in the vault; questions to bob@example.com."
    r = client.post("/v1/approvals", headers=as_user("alice"), json=proposal)
    assert r.status_code == 201, r.text
    view = r.json()
    approval_id = view["id"]
    assert (view["object"], view["kind"], view["state"], view["requester"]) == ("approval", "proposal", "pending",
                                                                               "alice")
    assert view["request_id"] == r.headers["x-request-id"]
    # The e-mail is stored as a placeholder and shown again to a reader policy lets see e-mails.
    assert view["details"] == "The old one is in the vault; questions to bob@example.com."

    # Nothing decided yet: the long-poll answers with the request as it stands when its time is up.
    elapsed, r = long_poll(approvals_gw, approval_id, as_user("alice"), 0.5)
    assert r.status_code == 200
    assert r.json()["state"] == "pending"
    assert elapsed >= 0.5

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(long_poll, approvals_gw, approval_id, as_user("alice"), 8)
        time.sleep(0.5)
        assert not waiting.done()
        queue = client.get("/admin/approvals", headers=as_user("rita"))
        assert queue.status_code == 200
        assert approval_id in [a["id"] for a in queue.json()["data"]]
        r = client.post(f"/admin/approvals/{approval_id}/decide", headers=as_user("rita"),
                        json={"decision": "approve", "reason": "rotate it today"})
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["approvals"]) == ("approved", 1)
        elapsed, woken = waiting.result(timeout=15)
    assert woken.status_code == 200
    assert woken.json()["state"] == "approved"
    assert woken.json()["votes"][0]["by"] == "rita"
    assert elapsed < 6, "the long-poll was not woken by the decision"
    assert client.get(f"/v1/approvals/{approval_id}", headers=as_user("alice")).json()["state"] == "approved"
    assert approval_id not in [a["id"] for a in client.get("/admin/approvals", headers=as_user("rita")).json()["data"]]

    wait_until(lambda: len(webhook_receiver.about(approval_id)) == 2, what="two webhook deliveries")
    deliveries = {d.doc["event"]: d for d in webhook_receiver.about(approval_id)}
    assert set(deliveries) == {"approval.requested", "approval.approved"}
    for delivery in deliveries.values():
        assert delivery.signed_with(WEBHOOK_SECRET)
        assert delivery.headers["content-type"] == "application/json"
        assert SECRET_TOKEN.encode() not in delivery.body
    # A webhook receiver is no reader policy was asked about: it gets the text as stored.
    assert deliveries["approval.requested"].doc["approval"]["details"] == \
        "The old one is in the vault; questions to [EMAIL_1]."
    assert deliveries["approval.approved"].doc["approval"]["state"] == "approved"

    records = approval_records(approvals_gw, approval_id)
    assert [(r["event"], r["principal"]) for r in records] == [("approval.requested", "alice"),
                                                              ("approval.approved", "rita")]
    assert all(r["endpoint"] == "approvals" and r["request_id"] == view["request_id"] for r in records)
    assert records[1]["decision"]["reason"] == "rotate it today"


def test_who_may_see_and_decide(approvals_gw: Gateway, client: httpx.Client, as_user: Headers) -> None:
    approval_id = propose(client, as_user("alice"))["id"]
    path = f"/v1/approvals/{approval_id}"
    decide = f"/admin/approvals/{approval_id}/decide"
    for who in ("alice", "rita", "ada"):
        assert client.get(path, headers=as_user(who)).status_code == 200, who
    missing = refused(client.get("/v1/approvals/apr_000000000000000000000000", headers=as_user("alice")), 404,
                      "approval_not_found")
    # Someone who may not see it is told exactly what they would be told if it did not exist.
    for who in ("olga", "otto"):
        hidden = refused(client.get(path, headers=as_user(who)), 404, "approval_not_found")
        assert hidden["message"] == missing["message"].replace("apr_000000000000000000000000", approval_id)
        refused(client.get(path + "/wait?timeout=0", headers=as_user(who)), 404, "approval_not_found")

    refused(client.post(decide, json={"decision": "approve"}, headers=as_user("alice")), 403, "approval_self")
    error = refused(client.post(decide, json={"decision": "approve"}, headers=as_user("olga")), 403,
                    "approval_forbidden")
    assert "reviewers" in error["message"]
    refused(client.post(decide, json={"decision": "approve"}, headers=as_user("ada")), 403, "approval_forbidden")
    refused(client.post(decide, json={"decision": "approve"}, headers=as_user("otto")), 404, "approval_not_found")
    assert client.get(path, headers=as_user("alice")).json()["votes"] == []

    rejected = client.post(decide, json={"decision": "reject", "reason": "wrong quarter"}, headers=as_user("ron"))
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["outcome_reason"] == "wrong quarter"
    refused(client.post(decide, json={"decision": "approve"}, headers=as_user("rita")), 409, "approval_decided")


def test_an_app_acting_for_a_user_cannot_approve_what_it_asked(client: httpx.Client, as_user: Headers) -> None:
    view = propose(client, as_user("bot", end_user="alice"))
    assert (view["requester"], view["app"]) == ("alice", "bot")
    # The app may see what it asked for; it may not decide it, whoever it acts for.
    assert client.get(f"/v1/approvals/{view['id']}", headers=as_user("bot")).status_code == 200
    refused(client.post(f"/admin/approvals/{view['id']}/decide", json={"decision": "approve"},
                        headers=as_user("bot", end_user="rita")), 403, "approval_self")
    refused(client.post(f"/admin/approvals/{view['id']}/decide", json={"decision": "approve"},
                        headers=as_user("bot")), 403, "approval_self")


def test_a_quorum_route_needs_two_reviewers(client: httpx.Client, as_user: Headers) -> None:
    approval_id = propose(client, as_user("alice"), route="pair")["id"]
    decide = f"/admin/approvals/{approval_id}/decide"
    first = client.post(decide, json={"decision": "approve"}, headers=as_user("rita")).json()
    assert (first["state"], first["approvals"], first["quorum"]) == ("pending", 1, 2)
    refused(client.post(decide, json={"decision": "approve"}, headers=as_user("rita")), 409, "approval_decided")
    assert approval_id in [a["id"] for a in client.get("/admin/approvals", headers=as_user("rex")).json()["data"]]
    assert approval_id not in [a["id"] for a in client.get("/admin/approvals", headers=as_user("rita")).json()["data"]]
    second = client.post(decide, json={"decision": "approve"}, headers=as_user("rex")).json()
    assert (second["state"], second["approvals"]) == ("approved", 2)


def test_an_unanswered_request_expires(approvals_gw: Gateway, client: httpx.Client, as_user: Headers,
                                       webhook_receiver: WebhookReceiver) -> None:
    approval_id = propose(client, as_user("alice"), route="brief")["id"]
    elapsed, r = long_poll(approvals_gw, approval_id, as_user("alice"), 8)
    assert r.json()["state"] == "expired"
    assert elapsed < 6
    error = refused(client.post(f"/admin/approvals/{approval_id}/decide", json={"decision": "approve"},
                                headers=as_user("rita")), 409, "approval_expired")
    assert "rejected" in error["message"]
    wait_until(lambda: "approval.expired" in webhook_receiver.events(approval_id), what="the expiry webhook")
    assert [r["event"] for r in approval_records(approvals_gw, approval_id)] == ["approval.requested",
                                                                                "approval.expired"]


def test_the_admin_list(client: httpx.Client, as_user: Headers) -> None:
    decided = propose(client, as_user("alice"))["id"]
    client.post(f"/admin/approvals/{decided}/decide", json={"decision": "approve"}, headers=as_user("rita"))
    pending = propose(client, as_user("alice"))["id"]
    # Approvers see what they may decide; others see nothing, which is not an error.
    assert pending in [a["id"] for a in client.get("/admin/approvals", headers=as_user("ron")).json()["data"]]
    assert client.get("/admin/approvals", headers=as_user("olga")).json() == {"object": "list", "data": []}
    assert client.get("/admin/approvals", headers=as_user("otto")).json()["data"] == []
    everything = client.get("/admin/approvals?all=true&limit=500", headers=as_user("ada")).json()["data"]
    assert {decided, pending} <= {a["id"] for a in everything}
    assert {a["tenant"] for a in everything} == {"default"}
    approved = client.get("/admin/approvals?state=approved", headers=as_user("ada")).json()["data"]
    assert decided in [a["id"] for a in approved]
    assert {a["state"] for a in approved} == {"approved"}
    for query in ("?all=true", "?state=approved"):
        refused(client.get("/admin/approvals" + query, headers=as_user("rita")), 403, "permission_denied")


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "mentions"), [
    pytest.param("POST", "/v1/approvals", b'{"title": "x", ', 400, "invalid_request", "not valid JSON",
                 id="malformed-json"),
    pytest.param("POST", "/v1/approvals", b"", 400, "invalid_request", "empty", id="empty-body"),
    pytest.param("POST", "/v1/approvals", b"[1]", 400, "invalid_request", "JSON object", id="not-an-object"),
    pytest.param("POST", "/v1/approvals", {"title": 5, "details": ""}, 400, "invalid_request", "title",
                 id="title-a-number"),
    pytest.param("POST", "/v1/approvals", {"details": "no title"}, 400, "invalid_request", "title",
                 id="title-missing"),
    pytest.param("POST", "/v1/approvals", {"title": "   ", "details": ""}, 400, "invalid_request", "blank",
                 id="title-blank"),
    pytest.param("POST", "/v1/approvals", {"title": "t" * 201, "details": ""}, 400, "invalid_request", "title",
                 id="title-too-long"),
    pytest.param("POST", "/v1/approvals", {"title": "t", "details": "d" * 20_001}, 400, "invalid_request",
                 "details", id="details-too-long"),
    pytest.param("POST", "/v1/approvals", {"title": "t", "details": "", "approve": True}, 400, "invalid_request",
                 "approve", id="unknown-field"),
    pytest.param("POST", "/v1/approvals", {"title": "t", "details": "", "route": "nowhere"}, 400,
                 "invalid_request", "known routes", id="unknown-route"),
    pytest.param("POST", "/v1/approvals", b'{"title": "t", "details": "' + b"x" * 70_000 + b'"}', 413,
                 "request_too_large", "limit", id="huge-body"),
    pytest.param("POST", "/admin/approvals/{id}/decide", {"decision": "maybe"}, 400, "invalid_request",
                 "decision", id="decision-unknown"),
    pytest.param("POST", "/admin/approvals/{id}/decide", {}, 400, "invalid_request", "decision",
                 id="decision-missing"),
    pytest.param("POST", "/admin/approvals/{id}/decide", {"decision": "approve", "arguments": [1]}, 400,
                 "invalid_request", "arguments", id="arguments-not-an-object"),
    pytest.param("POST", "/admin/approvals/{id}/decide", {"decision": "approve", "arguments": {"amount": 1}}, 400,
                 "invalid_request", "tool call", id="edits-on-a-proposal"),
    pytest.param("POST", "/admin/approvals/{id}/decide", {"decision": "approve", "why": "x"}, 400,
                 "invalid_request", "why", id="decision-unknown-field"),
    pytest.param("POST", "/admin/approvals/{id}/decide", {"decision": "reject", "reason": "r" * 2001}, 400,
                 "invalid_request", "reason", id="reason-too-long"),
    pytest.param("GET", "/v1/approvals/{id}/wait?timeout=soon", None, 400, "invalid_request", "timeout",
                 id="timeout-not-a-number"),
    pytest.param("GET", "/v1/approvals/{id}/wait?timeout=-1", None, 400, "invalid_request", "timeout",
                 id="timeout-negative"),
    pytest.param("GET", "/v1/approvals/{id}/wait?timeout=nan", None, 400, "invalid_request", "timeout",
                 id="timeout-nan"),
    pytest.param("GET", "/v1/approvals/{id}/wait?timeout=1&timeout=2", None, 400, "invalid_request", "once",
                 id="timeout-twice"),
    pytest.param("GET", "/v1/approvals/{id}/wait?seconds=1", None, 400, "invalid_request", "seconds",
                 id="wait-unknown-parameter"),
    pytest.param("GET", "/admin/approvals?state=done", None, 400, "invalid_request", "state", id="state-unknown"),
    pytest.param("GET", "/admin/approvals?limit=0", None, 400, "invalid_request", "limit", id="limit-zero"),
    pytest.param("GET", "/admin/approvals?all=perhaps", None, 400, "invalid_request", "all", id="all-not-a-bool"),
    pytest.param("POST", "/v1/approvals/{id}", {}, 405, "invalid_request", "not allowed", id="post-on-status"),
    pytest.param("GET", "/admin/approvals/{id}/decide", None, 405, "invalid_request", "not allowed",
                 id="get-on-decide"),
    pytest.param("GET", "/v1/approvals", None, 405, "invalid_request", "not allowed", id="get-on-create"),
    pytest.param("GET", "/v1/approvals/{id}/votes", None, 404, "not_found", "no endpoint", id="unknown-path"),
])
def test_bad_input_gets_a_clear_4xx(client: httpx.Client, as_user: Headers, method: str, path: str, body: Any,
                                    status: int, code: str, mentions: str) -> None:
    approval_id = propose(client, as_user("alice"))["id"]
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    r = client.request(method, path.replace("{id}", approval_id), content=content,
                       headers={**as_user("rita"), "content-type": "application/json"})
    error = refused(r, status, code)
    assert mentions.lower() in error["message"].lower()
    # Nothing was decided by a refused request.
    assert client.get(f"/v1/approvals/{approval_id}", headers=as_user("alice")).json()["votes"] == []


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/approvals"), ("GET", "/v1/approvals/apr_000000000000000000000000"),
    ("GET", "/v1/approvals/apr_000000000000000000000000/wait"), ("GET", "/admin/approvals"),
    ("POST", "/admin/approvals/apr_000000000000000000000000/decide"),
])
def test_every_endpoint_needs_a_key(client: httpx.Client, method: str, path: str) -> None:
    refused(client.request(method, path, json={}), 401, "invalid_api_key")
    refused(client.request(method, path, json={}, headers={"authorization": "Bearer il_not_a_real_key"}), 401,
            "invalid_api_key")


def test_a_client_that_hangs_up_on_a_long_poll_is_let_go(served_approvals_gw: Gateway) -> None:
    # A client that hangs up needs a real connection to drop: the served twin of the approvals gateway.
    gw = served_approvals_gw
    as_user = functools.partial(headers_for, gw)
    with gw.http() as client:
        approval_id = propose(client, as_user("alice"))["id"]
        for _ in range(3):
            with pytest.raises(httpx.ReadTimeout):
                httpx.get(f"{gw.url}/v1/approvals/{approval_id}/wait?timeout=8", headers=as_user("alice"),
                          timeout=0.3)
        r = client.post(f"/admin/approvals/{approval_id}/decide", json={"decision": "approve"},
                        headers=as_user("rita"))
        assert r.json()["state"] == "approved"
        assert client.get(f"/v1/approvals/{approval_id}/wait?timeout=0", headers=as_user("alice")).json()["state"] \
            == "approved"
    assert "Traceback" not in gw.log()
