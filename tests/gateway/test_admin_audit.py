"""``GET /admin/audit``: administrators read their own tenant's call records, and only those."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import ApiKey, Gateway


def client_for(gateway: Gateway, key: ApiKey) -> httpx.Client:
    return gateway.http(headers={"authorization": f"Bearer {key.key}"})


@pytest.fixture
def default_admin(gateway: Gateway) -> Iterator[httpx.Client]:
    with client_for(gateway, gateway.keys["admin"]) as c:
        yield c


@pytest.fixture
def other_admin(gateway: Gateway) -> Iterator[httpx.Client]:
    with client_for(gateway, gateway.keys["other-admin"]) as c:
        yield c


def call(client: httpx.Client, model: str = "mock") -> str:
    r = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "a"}]})
    request_id: str = r.headers["x-request-id"]
    return request_id


def audit(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/admin/audit", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def test_each_admin_sees_only_their_tenant(gateway: Gateway, mock: MockLLM, default_admin: httpx.Client,
                                           other_admin: httpx.Client) -> None:
    mine = call(default_admin)
    theirs = call(other_admin)
    default_view = audit(default_admin)
    other_view = audit(other_admin)
    assert {r["tenant"] for r in default_view} == {"default"}
    assert {r["tenant"] for r in other_view} == {"other"}
    assert mine in {r["request_id"] for r in default_view}
    assert theirs not in {r["request_id"] for r in default_view}
    assert theirs in {r["request_id"] for r in other_view}
    assert mine not in {r["request_id"] for r in other_view}
    # The store holds both; the endpoint filters.
    assert {mine, theirs} <= {r["request_id"] for r in gateway.records()}


def test_asking_for_another_tenant_does_not_widen_the_view(default_admin: httpx.Client,
                                                           other_admin: httpx.Client, mock: MockLLM) -> None:
    theirs = call(other_admin)
    view = audit(default_admin, tenant="other", request_id=theirs)
    assert view == []


def test_records_come_newest_first_with_their_sequence(default_admin: httpx.Client, mock: MockLLM) -> None:
    first, second = call(default_admin), call(default_admin)
    view = audit(default_admin, limit=2)
    assert [r["request_id"] for r in view] == [second, first]
    assert view[0]["seq"] > view[1]["seq"]
    assert view[0]["principal"] == "admin"


def test_filters(gateway: Gateway, default_admin: httpx.Client, mock: MockLLM) -> None:
    with client_for(gateway, gateway.keys["plain-user"]) as user:
        denied = call(user, "restricted")
        allowed = call(user)
    (one,) = audit(default_admin, request_id=denied)
    assert one["refusal_code"] == "policy_denied"
    refusals = audit(default_admin, refusal_code="policy_denied")
    assert refusals
    assert {r["refusal_code"] for r in refusals} == {"policy_denied"}
    by_user = audit(default_admin, principal="plain-user")
    assert {denied, allowed} <= {r["request_id"] for r in by_user}
    assert {r["principal"] for r in by_user} == {"plain-user"}
    restricted = audit(default_admin, model="restricted")
    assert {r["model"] for r in restricted} == {"restricted"}
    since = one["time"]
    recent = audit(default_admin, since=since)
    assert all(r["time"] >= since for r in recent)
    assert denied in {r["request_id"] for r in recent}
    assert len(audit(default_admin, limit=1)) == 1


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"limit": "lots"}])
def test_bad_filters_are_400(default_admin: httpx.Client, params: dict[str, str]) -> None:
    r = default_admin.get("/admin/audit", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_request"
