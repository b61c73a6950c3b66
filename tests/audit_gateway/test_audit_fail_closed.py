"""When the audit log cannot be written, calls are refused and readiness says why; repaired, it recovers.

The fault is injected into a running gateway's store with SQL: on PostgreSQL the ``audit_log`` table is
renamed away; on SQLite a trigger aborts every insert into it.
"""

from __future__ import annotations

import time

import httpx
from audit_gateway_support import AuditEnv, GatewayFactory

from support.processes import GRACEFUL_EXIT, wait_until

FAULTS = {
    "sqlite": (["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
               ["DROP TRIGGER refuse_audit"]),
    "postgresql": (["ALTER TABLE audit_log RENAME TO audit_log_x"], ["ALTER TABLE audit_log_x RENAME TO audit_log"]),
}


def test_an_unwritable_audit_log_refuses_calls_and_fails_readiness(audit_env: AuditEnv,
                                                                   gateway_process: GatewayFactory) -> None:
    env = audit_env
    key = env.create_key("caller")
    gw = gateway_process(env)
    headers = {"authorization": f"Bearer {key}"}

    def call(text: str) -> httpx.Response:
        return httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=30,
                          json={"model": "mock", "messages": [{"role": "user", "content": text}]})

    r = call("before the fault")
    assert r.status_code == 200, r.text
    assert len(env.rows()) == 1

    inject, repair = FAULTS[env.kind]
    env.execute(*inject)
    try:
        r = call("the secret answer is forty-two")
        assert r.status_code == 503, r.text
        doc = r.json()
        # An error, never the model's output.
        assert set(doc) == {"error"}
        assert doc["error"]["code"] == "service_unavailable"
        assert "audit" in doc["error"]["message"]
        assert doc["error"]["request_id"] == r.headers["x-request-id"]
        assert "forty-two" not in r.text

        ready = httpx.get(gw.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        checks = ready.json()
        assert checks["ready"] is False
        assert checks["store"] == "ok"  # reachable; it is the audit write that fails
        assert checks["audit_writer"].startswith("failed")
        assert ("audit refused" if env.kind == "sqlite" else "audit_log") in checks["audit_writer"]

        # Still refusing, and still not ready, while the fault lasts (the writer's probes fail too).
        time.sleep(1.2)
        assert call("again").status_code == 503
        assert httpx.get(gw.url + "/readyz", timeout=10).status_code == 503
    finally:
        env.execute(*repair)

    # Nothing of the refused calls reached the log (it could not), and the log is intact.
    assert len(env.rows()) == 1

    # Readiness comes back by itself once the store is repaired: a load balancer sends no call to an
    # instance that is not ready, so recovery must not wait for one.
    deadline = time.monotonic() + 15
    while httpx.get(gw.url + "/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "readiness did not recover after the store was repaired"
        time.sleep(0.1)
    assert len(env.rows()) == 1, "the probe must write nothing"

    r = call("after the repair")
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]
    if env.kind == "postgresql":
        # The refused calls had reserved their indexes before their insert failed: the integrator fills
        # them with signed gap records once the gap timeout has passed, and the tree goes on past them.
        wait_until(lambda: env.frontier()[0] == len(env.rows()) > 2, 15, "the refused calls' indexes filled")
    rows = env.rows()
    assert [s for s, *_ in rows] == list(range(len(rows)))
    assert rows[-1][1] == r.headers["x-request-id"]
    gaps = [rid for _, rid, _, _ in rows[1:-1]]
    assert all(rid.startswith("gap_") for rid in gaps)
    # SQLite reserves and inserts in one transaction; PostgreSQL reserved for each refused call.
    assert bool(gaps) == (env.kind == "postgresql")

    # A graceful stop signs a final checkpoint over every record.
    assert gw.stop() in GRACEFUL_EXIT
    assert env.query("SELECT max(tree_size) FROM audit_checkpoint")[0][0] == len(rows)
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rows)} records" in done.stdout
    if gaps:
        assert f"{len(gaps)} indexes were reserved but never written" in done.stdout
