"""``interlock approvals`` against the gateway's store while the gateway waits: the decision wakes the
waiting long-poll, lands in the audit log and goes out by webhook before the command exits."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
import pytest
from approvals_support import WEBHOOK_SECRET, WebhookReceiver

from interlock.cli.approvals import _edits
from interlock.identity.principal import Principal
from interlock.settings import load_settings
from support.aio import run_async
from support.app import Engine
from support.cli import CliResult, run_cli_process
from support.gateways import Gateway
from support.settings import write_settings

T = TypeVar("T")

Headers = Callable[..., dict[str, str]]


def propose(client: httpx.Client, headers: dict[str, str], title: str = "Open the EU region") -> str:
    r = client.post("/v1/approvals", json={"title": title, "details": "Needs two new database nodes."},
                    headers=headers)
    assert r.status_code == 201, r.text
    approval_id: str = r.json()["id"]
    return approval_id


def approvals(gw: Gateway, who: str | None, *args: str, check: bool = True, in_process: bool = True) -> CliResult:
    env = {"INTERLOCK_API_KEY": gw.keys[who].key} if who is not None else {"INTERLOCK_API_KEY": ""}
    return gw.cli(["approvals", args[0]], *args[1:], env=env, check=check, in_process=in_process)


# Long enough that a poll woken by the decision is told from one that ran out, however slowly the
# approver's command starts on a loaded machine.
WAIT_SECONDS = 40


def long_poll(gw: Gateway, approval_id: str, headers: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """When the long-poll answered (monotonic clock), and its view."""
    with gw.http(timeout=WAIT_SECONDS + 10) as c:
        r = c.get(f"/v1/approvals/{approval_id}/wait?timeout={WAIT_SECONDS}", headers=headers)
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return time.monotonic(), view


def test_approve_from_the_command_line_wakes_the_gateway(approvals_gw: Gateway, client: httpx.Client,
                                                         as_user: Headers, webhook_receiver: WebhookReceiver) -> None:
    approval_id = propose(client, as_user("alice"))
    listed = approvals(approvals_gw, "rita", "list")
    line = next(line for line in listed.stdout.splitlines() if line.startswith(approval_id))
    assert "pending" in line
    assert "Open the EU region" in line
    as_json = json.loads(approvals(approvals_gw, "rita", "list", "--json").stdout)
    assert approval_id in [a["id"] for a in as_json]
    shown = approvals(approvals_gw, "rita", "show", approval_id).stdout
    assert "Open the EU region" in shown
    assert "Needs two new database nodes." in shown
    assert "group reviewers" in shown
    assert "0 of 1 approvals" in shown

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        waiting = pool.submit(long_poll, approvals_gw, approval_id, as_user("alice"))
        time.sleep(0.5)
        assert not waiting.done()
        # A separate process, as an approver at a terminal would run it.
        done = approvals(approvals_gw, "rita", "approve", approval_id, "--reason", "capacity is there",
                         in_process=False)
        assert done.exit_code == 0, done.stderr
        assert done.stdout.strip() == f"{approval_id}: approved"
        # The command waited for its webhook deliveries before it exited.
        assert "approval.approved" in webhook_receiver.events(approval_id)
        answered, woken = waiting.result(timeout=WAIT_SECONDS + 20)
    assert woken["state"] == "approved"
    assert woken["votes"][0]["reason"] == "capacity is there"
    # Woken by the decision, not answered when the wait ran out.
    assert answered - started < WAIT_SECONDS - 5
    delivery = next(d for d in webhook_receiver.about(approval_id) if d.doc["event"] == "approval.approved")
    assert delivery.signed_with(WEBHOOK_SECRET)
    records = [r for r in approvals_gw.records() if r.get("approval_id") == approval_id]
    assert [(r["event"], r["principal"]) for r in records] == [("approval.requested", "alice"),
                                                              ("approval.approved", "rita")]
    assert approval_id not in approvals(approvals_gw, "rita", "list").stdout


def test_reject_from_the_command_line(approvals_gw: Gateway, client: httpx.Client, as_user: Headers) -> None:
    approval_id = propose(client, as_user("alice"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(long_poll, approvals_gw, approval_id, as_user("alice"))
        time.sleep(0.3)
        done = approvals(approvals_gw, "ron", "reject", approval_id, "--reason", "not this quarter", "--json")
        assert json.loads(done.stdout)["state"] == "rejected"
        _, woken = waiting.result(timeout=20)
    assert (woken["state"], woken["outcome_reason"]) == ("rejected", "not this quarter")
    shown = json.loads(approvals(approvals_gw, "alice", "show", approval_id, "--json").stdout)
    assert shown["votes"][0]["by"] == "ron"


def test_a_quorum_vote_from_the_command_line_says_how_far_it_is(approvals_gw: Gateway, client: httpx.Client,
                                                                as_user: Headers) -> None:
    r = client.post("/v1/approvals", json={"title": "Two keys", "details": "", "route": "pair"},
                    headers=as_user("alice"))
    approval_id = r.json()["id"]
    first = approvals(approvals_gw, "rita", "approve", approval_id).stdout
    assert "1 of 2 approvals" in first
    assert "still pending" in first
    assert approvals(approvals_gw, "rex", "approve", approval_id).stdout.strip() == f"{approval_id}: approved"


@pytest.mark.parametrize(("who", "args", "says"), [
    ("alice", ("approve", "{id}"), "approval_self"),
    ("olga", ("approve", "{id}"), "approval_forbidden"),
    ("otto", ("approve", "{id}"), "approval_not_found"),
    ("olga", ("show", "{id}"), "approval_not_found"),
    ("rita", ("approve", "{id}", "--set", "amount=20"), "tool call"),
    ("rita", ("list", "--all"), "administrators"),
    ("rita", ("list", "--state", "approved"), "administrators"),
    (None, ("list",), "INTERLOCK_API_KEY"),
])
def test_refusals_are_clear_errors(approvals_gw: Gateway, client: httpx.Client, as_user: Headers, who: str | None,
                                   args: tuple[str, ...], says: str) -> None:
    approval_id = propose(client, as_user("alice"))
    result = approvals(approvals_gw, who, *[a.replace("{id}", approval_id) for a in args], check=False)
    assert result.exit_code == 1, result.stdout
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert client.get(f"/v1/approvals/{approval_id}", headers=as_user("alice")).json()["votes"] == []


def test_a_bad_key_and_a_missing_reason(approvals_gw: Gateway, client: httpx.Client, as_user: Headers) -> None:
    approval_id = propose(client, as_user("alice"))
    bad = approvals_gw.cli(["approvals", "list"], "--key", "il_not_a_real_key", check=False)
    assert bad.exit_code == 1
    assert "invalid_api_key" in bad.stderr
    no_reason = approvals(approvals_gw, "rita", "reject", approval_id, check=False)
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.stderr


def test_admins_list_every_state(approvals_gw: Gateway, client: httpx.Client, as_user: Headers) -> None:
    approval_id = propose(client, as_user("alice"))
    approvals(approvals_gw, "rita", "approve", approval_id)
    everything = json.loads(approvals(approvals_gw, "ada", "list", "--all", "--json", "--limit", "500").stdout)
    assert approval_id in [a["id"] for a in everything]
    approved = approvals(approvals_gw, "ada", "list", "--state", "approved").stdout
    assert approval_id in approved
    # The admin is not an approver on these routes: nothing waits for their decision.
    assert approvals(approvals_gw, "ada", "list").stdout.strip() == "nothing waiting for your decision"


def test_edits_are_read_as_json_when_they_are_json() -> None:
    assert _edits(("amount=20", "note=call the customer", "to=[\"a@example.com\"]", "ok=true", "empty=")) == {
        "amount": 20, "note": "call the customer", "to": ["a@example.com"], "ok": True, "empty": ""}
    for bad in (("amount",), ("=5",), ("a=1", "a=2")):
        with pytest.raises(click.BadParameter):
            _edits(bad)


def in_engine(gw: Gateway, work: Callable[[Engine], Awaitable[T]]) -> T:
    """Run ``work`` against the gateway's store through an engine of its own, as another worker would."""
    async def run() -> T:
        engine = Engine(load_settings(gw.config))
        await engine.store.open()
        await engine.writer.start()
        try:
            return await work(engine)
        finally:
            await engine.writer.stop()
            await engine.store.close()

    return run_async(run())


def test_an_approver_edits_a_held_tool_call_from_the_command_line(approvals_gw: Gateway) -> None:
    alice = Principal(id="alice", kind="user", tenant="default")
    arguments = {"payment_id": "pay_81", "amount": 400, "currency": "EUR"}

    async def hold(engine: Engine) -> str:
        held = await engine.approvals.request_tool_call(
            alice, None, tool="refund_payment", route="payments", arguments=arguments, arguments_view=arguments,
            policy_ids=("default.tools.others-need-approval",), reason="refunds wait for a person")
        return held.id

    approval_id = in_engine(approvals_gw, hold)
    shown = approvals(approvals_gw, "rita", "show", approval_id).stdout
    assert "refund_payment" in shown
    assert '"amount": 400' in shown
    assert "editable:   amount" in shown

    not_editable = approvals(approvals_gw, "rita", "approve", approval_id, "--set", "currency=USD", check=False)
    assert not_editable.exit_code == 1
    assert "approval_edit_invalid" in not_editable.stderr
    # The edited call is checked again as the original was: the tool's schema caps refunds at 1000.
    too_much = approvals(approvals_gw, "rita", "approve", approval_id, "--set", "amount=5000", check=False)
    assert too_much.exit_code == 1
    assert "would not be allowed" in too_much.stderr

    done = json.loads(approvals(approvals_gw, "rita", "approve", approval_id, "--set", "amount=250",
                                "--reason", "half now", "--json").stdout)
    assert done["state"] == "approved"
    assert done["arguments"] == {"payment_id": "pay_81", "amount": "[edited]", "currency": "EUR"}
    assert done["votes"][0]["edited"] == ["amount"]

    async def spend(engine: Engine) -> dict[str, Any]:
        _, approved = await engine.approvals.use(approval_id, alice)
        return approved

    assert in_engine(approvals_gw, spend) == {"payment_id": "pay_81", "amount": 250, "currency": "EUR"}
    records = [r for r in approvals_gw.records() if r.get("approval_id") == approval_id]
    assert [r["event"] for r in records] == ["approval.requested", "approval.decision_refused",
                                             "approval.decision_refused", "approval.approved", "approval.used"]
    assert [r.get("refusal_code") for r in records[1:3]] == ["approval_edit_invalid", "approval_edit_invalid"]
    assert records[3]["decision"]["edited"] == ["amount"]
    assert records[0]["arguments_digest"] != records[3]["arguments_digest"]


def test_an_approver_needs_no_upstream_key(tmp_path: Path) -> None:
    """Deciding approvals reads the store, never a model: the provider's key is not the approver's business."""
    path = write_settings(tmp_path / "interlock.yaml", {
        "store": {"url": f"sqlite:///{tmp_path / 'interlock.db'}"},
        "providers": {"openai": {"base_url": "https://api.example/v1", "api_key_env": "INTERLOCK_TEST_UNSET_KEY"}},
        "models": [{"alias": "gpt", "provider": "openai", "upstream_model": "gpt-4o"}],
    })
    created = run_cli_process(["keys", "create", "--config", str(path), "--name", "rita", "--json"])
    assert created.exit_code == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    listed = run_cli_process(["approvals", "list", "--config", str(path)], env={"INTERLOCK_API_KEY": key})
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.strip() == "nothing waiting for your decision"
    # Serving still needs it, and says so before any worker starts.
    served = run_cli_process(["check-config", "--config", str(path)])
    assert served.exit_code == 1
    assert "INTERLOCK_TEST_UNSET_KEY" in served.stderr
