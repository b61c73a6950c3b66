"""The example agent (examples/agent/agent.py) against a real gateway on the example deployment.

The agent only ever sees the tool calls Interlock let through: a refund within the agent's own limit
runs at once, a larger one waits until someone in finance approves it and then runs with the approved
arguments, and one over the hard limit never reaches the agent at all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from test_tool_calls import KEYS, example_policies, tool_settings

from support.gateways import ApiKey, Gateway, GatewayFactory
from support.modules import load_module

AGENT_FILE = Path(__file__).resolve().parents[2] / "examples" / "agent" / "agent.py"


def load_agent() -> ModuleType:
    return load_module("example_agent", AGENT_FILE)


@pytest.fixture(scope="module")
def deployment(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    gw = gateway_factory("sqlite", keys=KEYS, policies=example_policies(), adjust=tool_settings)
    doc = json.loads(gw.cli(["keys", "create"], "--name", "fiona", "--tenant", "acme", "--group", "finance",
                            "--json").stdout)
    gw.keys["finance"] = ApiKey(doc["key"], doc["id"], doc["principal"])
    yield gw
    gw.stop()


def run_agent(gw: Gateway, script: dict[str, Any], log: list[str]) -> str:
    module = load_agent()
    agent = module.Agent(gw.url + "/v1", gw.keys["support"].key, "mock", wait_seconds=5, log=log.append)
    try:
        answer: str = agent.run("Please refund payment pay_77 for the customer.", script=script)
        return answer
    finally:
        agent.close()


def refund_script(amount: int) -> dict[str, Any]:
    return {"tool_calls": [{"name": "refund_payment", "id": "call_r1",
                            "arguments": {"payment_id": "pay_77", "amount": amount, "currency": "EUR"}}]}


def test_a_small_refund_runs_at_once(deployment: Gateway) -> None:
    log: list[str] = []
    run_agent(deployment, refund_script(40), log)
    assert "  ran refund_payment: refunded 40 EUR on pay_77" in log
    assert not any("held" in line or "refused" in line for line in log)


def test_an_over_limit_refund_never_reaches_the_agent(deployment: Gateway) -> None:
    log: list[str] = []
    answer = run_agent(deployment, refund_script(5000), log)
    assert any(line.startswith("  refused: refund_payment (tool_denied)") for line in log)
    assert not any(line.startswith("  ran ") for line in log)
    assert "refused" in answer


def test_a_larger_refund_waits_for_finance_then_runs_as_approved(deployment: Gateway) -> None:
    log: list[str] = []
    result: dict[str, str] = {}
    worker = threading.Thread(target=lambda: result.update(answer=run_agent(deployment, refund_script(400), log)))
    worker.start()
    finance = {"authorization": f"Bearer {deployment.keys['finance'].key}"}
    approval_id = ""
    deadline = time.monotonic() + 20
    while not approval_id and time.monotonic() < deadline:
        pending = httpx.get(deployment.url + "/admin/approvals", headers=finance, timeout=10).json()["data"]
        approval_id = next((a["id"] for a in pending if a["tool"] == "refund_payment"), "")
        time.sleep(0.1)
    assert approval_id, "the refund was never held for finance"
    # Finance lowers the amount (an editable argument on the payments route) and approves.
    decided = httpx.post(deployment.url + f"/admin/approvals/{approval_id}/decide", headers=finance, timeout=10,
                         json={"decision": "approve", "reason": "partial refund", "arguments": {"amount": 300}})
    assert decided.status_code == 200, decided.text
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert f"  held for approval: refund_payment -> {approval_id}" in log
    assert "  ran refund_payment: refunded 300 EUR on pay_77" in log
    assert "answer" in result
