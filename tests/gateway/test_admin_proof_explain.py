"""The admin endpoints the console reads besides the older ones: a record's proof bundle
(``GET /admin/audit/{request_id}/proof``), ``POST /admin/policy/explain`` and the policy source."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from interlock.audit.export import verify_proof_bundle
from interlock.providers.mock import MockLLM
from support.gateways import Gateway


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.http(headers={"authorization": f"Bearer {gateway.keys['admin'].key}"}) as c:
        yield c


@pytest.fixture
def other_admin(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.http(headers={"authorization": f"Bearer {gateway.keys['other-admin'].key}"}) as c:
        yield c


@pytest.fixture
def analyst(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.http(headers={"authorization": f"Bearer {gateway.keys['analyst'].key}"}) as c:
        yield c


def test_proof_bundle_of_a_record_verifies(admin: httpx.Client, other_admin: httpx.Client, analyst: httpx.Client,
                                           mock: MockLLM) -> None:
    r = admin.post("/v1/chat/completions", json={"model": "mock", "messages": [{"role": "user", "content": "a"}]})
    request_id = r.headers["x-request-id"]
    proof = admin.get(f"/admin/audit/{request_id}/proof")
    assert proof.status_code == 200, proof.text
    bundle = proof.json()
    checkpoint = verify_proof_bundle(bundle)
    assert checkpoint.tree_size > bundle["leaf_index"]
    assert request_id in bundle["record"]
    # Another tenant's administrator is told it does not exist; a non-administrator is refused.
    theirs = other_admin.get(f"/admin/audit/{request_id}/proof")
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")
    assert analyst.get(f"/admin/audit/{request_id}/proof").status_code == 403
    missing = admin.get("/admin/audit/req_nothing_here/proof")
    assert missing.status_code == 404
    assert "req_nothing_here" in missing.json()["error"]["message"]


def test_explain_answers_for_a_principal_of_the_admins_tenant(admin: httpx.Client, analyst: httpx.Client,
                                                              mock: MockLLM) -> None:
    sent = len(mock.received)
    body = {"principal": {"id": "someone", "roles": ["analyst"]},
            "request": {"model": "restricted", "messages": [{"role": "user", "content": "hi"}]}}
    allowed = admin.post("/admin/policy/explain", json=body)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["outcome"] == "would be sent"
    assert allowed.json()["principal"] == "someone"
    refused = admin.post("/admin/policy/explain", json={**body, "principal": {"id": "someone"}})
    assert refused.json()["outcome"] == "refused"
    assert refused.json()["stage"] == "authorize"
    assert len(mock.received) == sent, "explaining must not call the model"
    assert analyst.post("/admin/policy/explain", json=body).status_code == 403
    bad = admin.post("/admin/policy/explain", json={"principal": {"id": "x"}, "request": {}, "extra": 1})
    assert bad.status_code == 400
    assert bad.json()["error"]["request_id"] == bad.headers["x-request-id"]
    kind = admin.post("/admin/policy/explain", json={"principal": {"id": "x", "kind": "robot"}, "request": {}})
    assert (kind.status_code, kind.json()["error"]["param"]) == (400, "kind")


def test_policy_source_on_request(admin: httpx.Client) -> None:
    plain = admin.get("/admin/policy").json()
    assert "source" not in plain
    sourced = admin.get("/admin/policy", params={"source": "1"}).json()
    assert sourced["version"] == plain["version"]
    assert sourced["source"], "the active policy set has files"
    assert all(name.endswith(".cedar") for name in sourced["source"])
    assert any("permit" in text for text in sourced["source"].values())
