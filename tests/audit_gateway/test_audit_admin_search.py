"""Reading the log back: ``GET /admin/audit`` (an administrator sees only their own tenant) and
``interlock audit search``, with their filters, on a log written by real calls through a gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from audit_gateway_support import AuditEnv, new_env

from interlock.providers.mock import MockLLM
from support.app import make_app
from support.inprocess import InProcessApp
from support.stores import STORES

# (caller, model, expected status) in call order.
CALLS = (
    ("alice", "mock", 200), ("alice", "mock", 200), ("alice", "mock-large", 200),
    ("bob", "mock", 200), ("bob", "restricted", 403), ("bob", "no-such-model", 404),
    ("carol", "mock", 200), ("carol", "restricted", 403), ("carol", "mock-large", 200),
    ("alice", "restricted", 403), ("bob", "mock-large", 200), ("carol", "mock", 200),
)
TENANT = {"alice": "acme", "bob": "acme", "acme-admin": "acme", "carol": "globex", "globex-admin": "globex"}


class Written:
    """The gateway (in this process), the keys, and what each call returned."""

    def __init__(self, env: AuditEnv, gw: InProcessApp, keys: dict[str, str]) -> None:
        self.env = env
        self.gw = gw
        self.keys = keys
        self.calls: list[dict[str, Any]] = []

    def client(self) -> httpx.Client:
        return httpx.Client(base_url="http://interlock.test", transport=self.gw.transport(), timeout=20)

    def admin(self, who: str, **params: str) -> httpx.Response:
        with self.client() as client:
            return client.get("/admin/audit", params=params, headers={"authorization": f"Bearer {self.keys[who]}"})

    def ids(self, **match: Any) -> list[str]:
        """Request ids of the calls matching every field given, newest first (the log's order reversed)."""
        return [c["request_id"] for c in reversed(self.calls) if all(c[k] == v for k, v in match.items())]


@pytest.fixture(scope="module", params=STORES)
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            audit_mock: MockLLM) -> Iterator[Written]:
    """One log per store for this module's (read-only) tests, written by real calls through a gateway."""
    kind: str = request.param
    pg: str | None = request.getfixturevalue("pg_database") if kind == "postgresql" else None
    env = new_env(kind, tmp_path_factory.mktemp(f"search-{kind}"), pg, audit_mock.base_url)
    keys = env.add_keys({name: (tenant, ["admin"] if "admin" in name else []) for name, tenant in TENANT.items()})
    gw = InProcessApp(make_app(env.settings()), env.directory / "serve.log")
    gw.start()
    try:
        w = Written(env, gw, keys)
        with w.client() as client:
            for who, model, status in CALLS:
                r = client.post("/v1/chat/completions", headers={"authorization": f"Bearer {keys[who]}"},
                                json={"model": model,
                                      "messages": [{"role": "user", "content": f"hello from {who}"}]})
                assert r.status_code == status, r.text
                code = None if status == 200 else r.json()["error"]["code"]
                w.calls.append({"request_id": r.headers["x-request-id"], "principal": who,
                                "tenant": TENANT[who], "model": model, "status": status, "refusal_code": code})
        assert len(env.rows()) == len(CALLS)
        yield w
    finally:
        gw.stop()


def data(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


def test_admin_audit_shows_only_the_admins_own_tenant_with_working_filters(written: Written) -> None:
    w = written
    acme = data(w.admin("acme-admin"))
    assert [r["request_id"] for r in acme] == w.ids(tenant="acme")
    assert {r["tenant"] for r in acme} == {"acme"}
    assert [r["seq"] for r in acme] == sorted((r["seq"] for r in acme), reverse=True)
    globex = data(w.admin("globex-admin"))
    assert [r["request_id"] for r in globex] == w.ids(tenant="globex")

    # principal, model, refusal_code
    assert [r["request_id"] for r in data(w.admin("acme-admin", principal="alice"))] == w.ids(principal="alice")
    assert [r["request_id"] for r in data(w.admin("acme-admin", model="mock-large"))] == \
        w.ids(tenant="acme", model="mock-large")
    denied = data(w.admin("acme-admin", refusal_code="policy_denied"))
    assert [r["request_id"] for r in denied] == w.ids(tenant="acme", refusal_code="policy_denied")
    assert all(r["status"] == 403 and r["outcome"] == "refused" for r in denied)
    assert [r["request_id"] for r in data(w.admin("globex-admin", refusal_code="policy_denied"))] == \
        w.ids(tenant="globex", refusal_code="policy_denied")
    assert [r["request_id"] for r in data(w.admin("acme-admin", principal="alice", model="restricted"))] == \
        w.ids(principal="alice", model="restricted")

    # Another tenant's principal or request id finds nothing, rather than leaking it.
    assert data(w.admin("acme-admin", principal="carol")) == []
    assert data(w.admin("acme-admin", request_id=w.ids(principal="carol")[0])) == []
    assert len(data(w.admin("globex-admin", request_id=w.ids(principal="carol")[0]))) == 1

    # since (inclusive) and until (exclusive), on the record's time.
    oldest_first = list(reversed(acme))
    since, until = oldest_first[2]["time"], oldest_first[5]["time"]
    window = data(w.admin("acme-admin", since=repr(since), until=repr(until)))
    assert [r["request_id"] for r in window] == [r["request_id"] for r in reversed(oldest_first[2:5])]
    assert [r["request_id"] for r in data(w.admin("acme-admin", since=repr(until)))] == \
        [r["request_id"] for r in reversed(oldest_first[5:])]
    assert len(data(w.admin("acme-admin", limit="2"))) == 2

    # Not for callers without the admin role; bad numbers are refused.
    r = w.admin("alice")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"
    r = w.admin("acme-admin", since="yesterday")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_request"


def test_audit_search_filters(written: Written) -> None:
    w = written
    env = w.env

    def search(*args: str) -> list[dict[str, Any]]:
        done = env.cli("audit", "search", *args)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["request_id"] for r in rows]

    everything = search()
    assert ids(everything) == w.ids()
    assert ids(search("--tenant", "globex")) == w.ids(tenant="globex")
    assert ids(search("--principal", "bob")) == w.ids(principal="bob")
    assert ids(search("--model", "mock-large", "--tenant", "acme")) == w.ids(model="mock-large", tenant="acme")
    assert ids(search("--refusal-code", "model_not_found")) == w.ids(refusal_code="model_not_found")
    assert ids(search("--status", "403")) == w.ids(status=403)
    assert ids(search("--request-id", w.ids()[3])) == [w.ids()[3]]
    assert ids(search("--limit", "3")) == w.ids()[:3]
    oldest_first = list(reversed(everything))
    since, until = oldest_first[4]["time"], oldest_first[9]["time"]
    assert ids(search("--since", repr(since), "--until", repr(until))) == ids(list(reversed(oldest_first[4:9])))
