"""API keys from birth to revocation: the CLI and the admin API, across worker processes, with expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import STANDARD_KEYS, ApiKey, Gateway
from support.processes import wait_until

CHAT = {"model": "mock", "messages": [{"role": "user", "content": "key check"}]}


def bearer(key: ApiKey | str) -> dict[str, str]:
    return {"authorization": f"Bearer {key.key if isinstance(key, ApiKey) else key}"}


def chat_status(gateway: Gateway, key: ApiKey | str) -> int:
    """One call on a fresh connection, so with several workers any of them may answer."""
    with gateway.http() as http:
        r = http.post("/v1/chat/completions", json=CHAT, headers={**bearer(key), "connection": "close"})
    return r.status_code


def refusal_message(gateway: Gateway, key: ApiKey) -> str:
    with gateway.http() as http:
        r = http.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
    assert r.status_code == 401
    message: str = r.json()["error"]["message"]
    return message


# -- the CLI -----------------------------------------------------------------------------------------


def test_cli_created_key_works_and_is_stored_only_as_a_hash(gateway: Gateway, mock: MockLLM) -> None:
    key = gateway.create_key("cli-made", "analyst", "reviewer")
    assert key.key.startswith("il_")
    assert key.id.startswith("key_")
    assert key.principal == "cli-made"
    assert chat_status(gateway, key) == 200
    listing = gateway.cli(["keys", "list"]).stdout
    line = next(ln for ln in listing.splitlines() if ln.startswith(key.id))
    assert "active" in line
    assert "roles=analyst,reviewer" in line
    assert key.key[:11] in line  # the lookup prefix is shown...
    assert key.key not in listing  # ...never the key
    for k in gateway.keys.values():
        assert k.key not in listing


def test_cli_revoke_takes_effect_on_the_next_call(gateway: Gateway, mock: MockLLM) -> None:
    key = gateway.create_key("cli-revoked")
    assert chat_status(gateway, key) == 200
    done = gateway.cli(["keys", "revoke"], key.id)
    assert f"revoked {key.id}" in done.stdout
    assert chat_status(gateway, key) == 401
    assert "revoked" in refusal_message(gateway, key)
    listing = gateway.cli(["keys", "list"]).stdout
    assert "revoked" in next(ln for ln in listing.splitlines() if ln.startswith(key.id))


def test_cli_revoke_of_an_unknown_or_revoked_key_fails_clearly(gateway: Gateway) -> None:
    done = gateway.cli(["keys", "revoke"], "key_doesnotexist", check=False)
    assert done.exit_code != 0
    assert "key_doesnotexist" in done.stderr
    assert "keys list" in done.stderr
    key = gateway.create_key("revoked-twice")
    gateway.cli(["keys", "revoke"], key.id)
    assert gateway.cli(["keys", "revoke"], key.id, check=False).exit_code != 0


def test_key_expires_after_its_ttl(gateway: Gateway, mock: MockLLM) -> None:
    key = gateway.create_key("short-lived", ttl=1)
    created = time.time()
    assert chat_status(gateway, key) == 200
    # Wait for the clock, not for a guess: the key expires 1 s after it was made.
    wait_until(lambda: time.time() > created + 1.05, timeout=5, what="key expiry")
    assert chat_status(gateway, key) == 401
    assert "expired" in refusal_message(gateway, key)
    listing = gateway.cli(["keys", "list"]).stdout
    assert "expired" in next(ln for ln in listing.splitlines() if ln.startswith(key.id))


# -- the admin API -----------------------------------------------------------------------------------


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.http(headers=bearer(gateway.keys["admin"])) as client:
        yield client


def test_admin_creates_a_key_that_works(gateway: Gateway, admin: httpx.Client, mock: MockLLM) -> None:
    r = admin.post("/admin/keys", json={"name": "api-made", "roles": ["analyst"], "kind": "service"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["key"].startswith("il_")
    assert doc["id"].startswith("key_")
    assert doc["principal_id"] == "api-made"
    assert doc["kind"] == "service"
    assert doc["tenant"] == "default"
    assert doc["roles"] == ["analyst"]
    assert doc["state"] == "active"
    assert "hash" not in doc
    assert chat_status(gateway, doc["key"]) == 200
    with gateway.http() as http:
        r = http.post("/v1/chat/completions", json={**CHAT, "model": "restricted"}, headers=bearer(doc["key"]))
    assert r.status_code == 200
    assert gateway.record(r.headers["x-request-id"])["principal"] == "api-made"


def test_admin_key_with_ttl(gateway: Gateway, admin: httpx.Client) -> None:
    r = admin.post("/admin/keys", json={"name": "api-ttl", "ttl_seconds": 3600})
    assert r.status_code == 201
    doc = r.json()
    assert doc["expires"] == pytest.approx(doc["created"] + 3600)


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"roles": ["x"]}, "name"),
        ({"name": "k", "kind": "robot"}, "kind"),
        ({"name": "k", "roles": "admin"}, "roles"),
        ({"name": "k", "surprise": 1}, "surprise"),
        ({"name": "k", "roles": ["wizard"]}, "unknown role(s) wizard"),
        ({"name": "k", "ttl_seconds": 0}, "positive number of seconds"),
        ({"name": "k", "ttl_seconds": -3600}, "positive number of seconds"),
        ({"name": "k", "principal_id": "plain-user"}, "already holds keys"),
    ],
)
def test_admin_create_rejects_a_bad_request(admin: httpx.Client, body: dict[str, Any], mentions: str) -> None:
    r = admin.post("/admin/keys", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert mentions in error["message"]


@pytest.mark.parametrize("who", ["plain-user", "analyst", "acting-app"])
def test_non_admins_may_not_manage_keys(gateway: Gateway, who: str) -> None:
    victim = gateway.keys["plain-app"]
    with gateway.http(headers=bearer(gateway.keys[who])) as client:
        for r in (client.post("/admin/keys", json={"name": "sneaky", "roles": ["admin"]}),
                  client.get("/admin/keys"),
                  client.post(f"/admin/keys/{victim.id}/revoke"),
                  client.get("/admin/audit")):
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "permission_denied"
            assert "admin role" in r.json()["error"]["message"]
    assert chat_status(gateway, victim) == 200


def test_admin_endpoints_need_a_key(gateway: Gateway) -> None:
    with gateway.http() as http:
        r = http.get("/admin/keys")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_admin_list_never_shows_a_key(gateway: Gateway, admin: httpx.Client) -> None:
    r = admin.get("/admin/keys")
    assert r.status_code == 200
    body = r.text
    data = r.json()["data"]
    ids = {k["id"] for k in data}
    for spec in STANDARD_KEYS:
        key = gateway.keys[spec.name]
        assert key.key not in body
        if spec.tenant in (None, "default"):
            assert key.id in ids
    assert all(set(k) >= {"id", "prefix", "name", "principal_id", "state"} for k in data)
    assert all("key" not in k and "hash" not in k for k in data)


def test_admin_revoke_takes_effect_on_the_next_call(gateway: Gateway, admin: httpx.Client,
                                                    mock: MockLLM) -> None:
    key = gateway.create_key("api-revoked")
    assert chat_status(gateway, key) == 200
    r = admin.post(f"/admin/keys/{key.id}/revoke")
    assert r.status_code == 200
    assert r.json() == {"id": key.id, "revoked": True}
    assert chat_status(gateway, key) == 401
    assert "revoked" in refusal_message(gateway, key)
    again = admin.post(f"/admin/keys/{key.id}/revoke")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"
    state = {k["id"]: k["state"] for k in admin.get("/admin/keys").json()["data"]}
    assert state[key.id] == "revoked"


def test_admins_manage_their_own_tenant_only(gateway: Gateway, admin: httpx.Client) -> None:
    other_tenant_key = gateway.create_key("other-tenant-user", tenant="other")
    # Listing: the other tenant's keys are not there.
    ids = {k["id"] for k in admin.get("/admin/keys").json()["data"]}
    assert other_tenant_key.id not in ids
    assert gateway.keys["other-admin"].id not in ids
    # Revoking: another tenant's key looks like no key at all, and stays usable.
    r = admin.post(f"/admin/keys/{other_tenant_key.id}/revoke")
    assert r.status_code == 404
    assert chat_status(gateway, other_tenant_key) == 200
    # Creating: not in another tenant; by default in the admin's own.
    r = admin.post("/admin/keys", json={"name": "cross-tenant", "roles": ["admin"], "tenant": "other"})
    assert r.status_code == 403
    assert r.json()["error"]["param"] == "tenant"
    with gateway.http(headers=bearer(gateway.keys["other-admin"])) as other:
        r = other.post("/admin/keys", json={"name": "made-by-other-admin"})
        assert r.status_code == 201
        assert r.json()["tenant"] == "other"
        other_ids = {k["id"] for k in other.get("/admin/keys").json()["data"]}
    assert other_tenant_key.id in other_ids
    assert gateway.keys["admin"].id not in other_ids


# -- several workers ---------------------------------------------------------------------------------


def test_revocation_reaches_every_worker(two_workers: Gateway, mock: MockLLM) -> None:
    gw = two_workers
    by_api, by_cli = gw.create_key("revoked-by-api"), gw.create_key("revoked-by-cli")
    for _ in range(6):
        assert chat_status(gw, by_api) == 200
        assert chat_status(gw, by_cli) == 200
    with gw.http(headers=bearer(gw.keys["admin"])) as admin:
        assert admin.post(f"/admin/keys/{by_api.id}/revoke").status_code == 200
    gw.cli(["keys", "revoke"], by_cli.id)
    assert [chat_status(gw, by_api) for _ in range(8)] == [401] * 8
    assert [chat_status(gw, by_cli) for _ in range(8)] == [401] * 8
    # Other keys are untouched, on every worker.
    assert [chat_status(gw, gw.keys["plain-user"]) for _ in range(4)] == [200] * 4


def test_keys_created_through_one_worker_work_on_all(two_workers: Gateway, mock: MockLLM) -> None:
    gw = two_workers
    with gw.http(headers=bearer(gw.keys["admin"])) as admin:
        r = admin.post("/admin/keys", json={"name": "made-on-one-worker"})
    assert r.status_code == 201
    assert [chat_status(gw, r.json()["key"]) for _ in range(8)] == [200] * 8


def test_admin_adds_a_key_for_a_key_holder_only_with_force_and_it_is_recorded(admin: httpx.Client) -> None:
    r = admin.post("/admin/keys", json={"name": "plain-user-rotated", "principal_id": "plain-user", "force": True})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["principal_id"], doc["forced"], doc["created_by"]) == ("plain-user", True, "admin")
    listed = {k["id"]: k for k in admin.get("/admin/keys").json()["data"]}
    assert listed[doc["id"]]["forced"] is True


def test_admin_bounds_whom_an_application_acts_for(admin: httpx.Client) -> None:
    r = admin.post("/admin/keys", json={"name": "bounded-bot", "kind": "app", "act_for": ["carol"],
                                        "act_for_groups": ["support"]})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["may_act_for"], doc["act_for"], doc["act_for_groups"]) == (True, ["carol"], ["support"])
