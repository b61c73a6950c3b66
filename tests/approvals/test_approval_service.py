"""The approval service on both stores: who may see and decide, quorum, rejection, expiry, escalation,
edits, spending an approval once, races, restarts and the audit trail."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from approvals_support import (
    ADMIN,
    ALICE,
    BOT,
    FIN,
    MO,
    OTHER_TENANT,
    OUTSIDER,
    RITA,
    RON,
    WEBHOOK_SECRET,
    ServiceFactory,
    WebhookReceiver,
    person,
    webhook_settings,
)

from interlock.approvals import Approval, ApprovalService
from interlock.approvals.webhook import Webhook
from interlock.errors import Refusal
from interlock.identity.principal import Principal


async def propose(service: ApprovalService, route: str = "default", *, app: Principal | None = None,
                  requester: Principal = ALICE) -> Approval:
    return await service.propose(requester, app, title="Raise the refund limit", details="To 500 EUR for Q3.",
                                 route=route, reason="quarter end")


async def refused(code: str, status: int, coro: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        await coro
    assert (caught.value.code, caught.value.status) == (code, status), caught.value.message
    assert len(caught.value.message) > 10
    return caught.value


# -- creating and seeing -------------------------------------------------------------------------

async def test_a_proposal_is_stored_and_read_back(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, app=BOT)
    found = await service.get(created.id)
    assert found is not None
    assert found.id.startswith("apr_")
    assert (found.state, found.kind, found.tenant, found.route) == ("pending", "proposal", "acme", "default")
    assert (found.requester, found.app, found.quorum) == ("alice", "support-bot", 1)
    assert (found.title, found.details, found.reason) == ("Raise the refund limit", "To 500 EUR for Q3.",
                                                          "quarter end")
    assert found.expires == pytest.approx(found.created + 600)
    view = found.view()
    assert view["approvers"] == {"roles": [], "groups": ["reviewers"]}
    assert "arguments_sealed" not in view
    assert await service.get("apr_000000000000000000000000") is None


async def test_who_may_see_a_request(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "escalating", app=BOT)
    for who in (ALICE, BOT, RITA, MO):
        assert (await service.get_for(created.id, who)).id == created.id
    assert (await service.get_for(created.id, ADMIN, admin=True)).id == created.id
    for who in (OUTSIDER, FIN, OTHER_TENANT):
        await refused("approval_not_found", 404, service.get_for(created.id, who))
    # The admin flag does not cross tenants.
    await refused("approval_not_found", 404, service.get_for(created.id, OTHER_TENANT, admin=True))


async def test_an_unknown_route_is_refused(services: ServiceFactory) -> None:
    service = await services()
    error = await refused("invalid_request", 400, propose(service, "nowhere"))
    assert "default" in error.message


# -- deciding --------------------------------------------------------------------------------------

async def test_a_quorum_of_two_needs_two_different_approvers(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "pair")
    first = await service.decide(created.id, RITA, "approve", "fine by me")
    assert (first.state, first.approvals) == ("pending", 1)
    assert created.id not in [a.id for a in await service.pending_for(RITA)]
    assert created.id in [a.id for a in await service.pending_for(RON)]
    await refused("approval_decided", 409, service.decide(created.id, RITA, "approve"))
    second = await service.decide(created.id, RON, "approve", "me too")
    assert (second.state, second.approvals) == ("approved", 2)
    assert second.decided_at is not None
    assert [(v.by, v.decision, v.reason) for v in second.votes] == [("rita", "approve", "fine by me"),
                                                                    ("ron", "approve", "me too")]
    assert await services.events(created.id) == ["approval.requested", "approval.vote", "approval.approved"]


async def test_a_single_rejection_rejects(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "pair")
    await service.decide(created.id, RITA, "approve")
    rejected = await service.decide(created.id, RON, "reject", "not this quarter")
    assert (rejected.state, rejected.outcome_reason) == ("rejected", "not this quarter")
    error = await refused("approval_decided", 409, service.decide(created.id, person("rex", groups=("reviewers",)),
                                                                  "approve"))
    assert "rejected" in error.message
    records = await services.records(created.id)
    assert records[-1]["event"] == "approval.rejected"
    assert records[-1]["decision"] == {"by": "ron", "decision": "reject", "reason": "not this quarter", "edited": []}


async def test_nobody_approves_their_own_request(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, app=BOT)
    # ALICE and BOT are both in the approver group; asking rules them out.
    await refused("approval_self", 403, service.decide(created.id, ALICE, "approve"))
    await refused("approval_self", 403, service.decide(created.id, BOT, "approve"))
    # Nor can the app that asked decide through another person it acts for.
    await refused("approval_self", 403, service.decide(created.id, RITA, "approve", app=BOT))
    assert created.id not in [a.id for a in await service.pending_for(ALICE)]
    assert (await service.decide(created.id, RITA, "approve")).state == "approved"


async def test_approvers_outside_the_group_are_refused(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service)
    error = await refused("approval_forbidden", 403, service.decide(created.id, OUTSIDER, "approve"))
    assert "reviewers" in error.message
    await refused("approval_forbidden", 403, service.decide(created.id, FIN, "reject", "no"))
    # Administrators decide only where the route names them.
    await refused("approval_forbidden", 403, service.decide(created.id, ADMIN, "approve"))
    assert (await service.get(created.id)).state == "pending"  # type: ignore[union-attr]
    assert await service.pending_for(OUTSIDER) == []


async def test_another_tenant_can_neither_see_nor_decide(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service)
    await refused("approval_not_found", 404, service.decide(created.id, OTHER_TENANT, "approve"))
    await refused("approval_not_found", 404, service.get_for(created.id, OTHER_TENANT))
    assert await service.pending_for(OTHER_TENANT) == []
    assert await service.search("other") == []
    assert [a.id for a in await service.search("acme")] == [created.id]


async def test_two_simultaneous_decisions_one_wins(services: ServiceFactory) -> None:
    """Two approvers at once, each through its own worker: a compare-and-set lets exactly one decide."""
    one, two = await services(), await services()
    for _ in range(5):
        created = await propose(one)
        outcomes = await asyncio.gather(one.decide(created.id, RITA, "approve"),
                                        two.decide(created.id, RON, "reject", "no"), return_exceptions=True)
        won = [o for o in outcomes if isinstance(o, Approval)]
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        assert isinstance(lost[0], Refusal)
        assert lost[0].code == "approval_decided"
        stored = await one.get(created.id)
        assert stored is not None
        assert len(stored.votes) == 1
        assert stored.state == won[0].state
        events = await services.events(created.id)
        assert events[0] == "approval.requested"
        assert len(events) == 2
        assert events[1] in ("approval.approved", "approval.rejected")


# -- time ------------------------------------------------------------------------------------------

async def test_an_unanswered_request_expires_and_cannot_be_decided(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "brief")
    waited = await service.wait(created.id, 5)
    assert waited is not None
    assert (waited.state, waited.outcome_reason) == ("expired", "expired")
    error = await refused("approval_expired", 409, service.decide(created.id, RITA, "approve"))
    assert "rejected" in error.message
    assert await service.pending_for(RITA) == []
    assert await services.events(created.id) == ["approval.requested", "approval.expired"]


async def test_a_decision_racing_the_expiry_is_refused(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "brief")
    await asyncio.sleep(0.5)
    # Nobody read it since it ran out: the decision itself finds it expired.
    await refused("approval_expired", 409, service.decide(created.id, RITA, "approve"))
    assert (await service.get(created.id)).state == "expired"  # type: ignore[union-attr]


async def test_the_sweeper_expires_requests_nobody_reads(services: ServiceFactory) -> None:
    service = await services(settings=services.settings.model_copy(update={"sweep_interval_seconds": 0.05}))
    created = await propose(service, "brief")
    deadline = time.monotonic() + 5
    while await services.events(created.id) != ["approval.requested", "approval.expired"]:
        assert time.monotonic() < deadline, "the sweeper did not expire the request"
        await asyncio.sleep(0.05)


async def test_escalation_widens_the_approvers_only_when_due(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "escalating")
    assert created.escalate_at == pytest.approx(created.created + 0.4)
    await refused("approval_forbidden", 403, service.decide(created.id, MO, "approve"))
    assert await service.pending_for(MO) == []
    await asyncio.sleep(0.5)
    assert [a.id for a in await service.pending_for(MO)] == [created.id]
    approved = await service.decide(created.id, MO, "approve", "escalated to me")
    assert (approved.state, approved.escalated) == ("approved", True)
    assert await services.events(created.id) == ["approval.requested", "approval.escalated", "approval.approved"]


async def test_the_sweeper_escalates_and_expires_on_time(services: ServiceFactory) -> None:
    service = await services(start=False)
    created = await propose(service, "escalating")
    assert await service.sweep(created.created + 0.1) == 0
    assert await service.sweep(created.created + 1) == 1
    assert (await service.get(created.id)).escalated  # type: ignore[union-attr]
    assert await service.sweep(created.created + 2) == 0
    assert await service.sweep(created.created + 601) == 1
    assert await services.events(created.id) == ["approval.requested", "approval.escalated", "approval.expired"]


async def test_waiting_wakes_on_a_decision_in_this_or_another_worker(services: ServiceFactory) -> None:
    here, there = await services(), await services()
    for decider in (here, there):
        created = await propose(here)
        started = time.monotonic()
        waiting = asyncio.create_task(here.wait(created.id, 20))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await decider.decide(created.id, RITA, "approve")
        result = await asyncio.wait_for(waiting, 5)
        assert result is not None
        assert result.state == "approved"
        assert time.monotonic() - started < 10
    pending = await propose(here)
    started = time.monotonic()
    still = await here.wait(pending.id, 0.3)
    assert still is not None
    assert still.state == "pending"
    assert time.monotonic() - started >= 0.29
    assert here._changed == {}


# -- tool calls: edits and spending ---------------------------------------------------------------

def refund_rules(principal: Principal, app: Principal | None, tool: str, arguments: dict[str, Any]) -> str:
    return "refunds above 100 need finance's director" if arguments.get("amount", 0) > 100 else ""


async def hold_refund(service: ApprovalService, amount: float = 50) -> Approval:
    arguments = {"payment_id": "pay_123", "amount": amount, "currency": "EUR"}
    return await service.request_tool_call(ALICE, BOT, tool="refund_payment", route="payments", arguments=arguments,
                                           arguments_view=dict(arguments), policy_ids=("tools.refunds-held",),
                                           reason="refunds need a person", request_id="req_test_refund")


async def test_edits_only_of_editable_arguments_and_checked_again(services: ServiceFactory) -> None:
    service = await services(recheck=refund_rules)
    held = await hold_refund(service)
    error = await refused("approval_edit_invalid", 400, service.decide(held.id, FIN, "approve",
                                                                       edits={"currency": "USD"}))
    assert "currency" in error.message
    assert "amount" in error.message
    error = await refused("approval_edit_invalid", 400, service.decide(held.id, FIN, "approve",
                                                                       edits={"amount": 500}))
    assert "finance's director" in error.message
    await refused("invalid_request", 400, service.decide(held.id, FIN, "reject", "no", edits={"amount": 20}))
    approved = await service.decide(held.id, FIN, "approve", "partial refund", edits={"amount": 20})
    assert approved.state == "approved"
    assert approved.votes[0].edited == ["amount"]
    assert approved.view()["arguments"] == {"payment_id": "pay_123", "amount": "[edited]", "currency": "EUR"}
    used, arguments = await service.use(held.id, ALICE)
    assert used.state == "used"
    assert arguments == {"payment_id": "pay_123", "amount": 20, "currency": "EUR"}


async def test_edits_without_a_way_to_check_them_are_refused(services: ServiceFactory) -> None:
    service = await services(recheck=None)
    held = await hold_refund(service)
    await refused("approval_edit_invalid", 400, service.decide(held.id, FIN, "approve", edits={"amount": 20}))
    proposal = await propose(service)
    await refused("invalid_request", 400, service.decide(proposal.id, RITA, "approve", edits={"amount": 1}))


async def test_an_approval_is_used_once(services: ServiceFactory) -> None:
    service = await services()
    held = await hold_refund(service)
    await refused("approval_pending", 409, service.use(held.id, ALICE))
    assert await service.find_approved(ALICE, "refund_payment", {"payment_id": "pay_123", "amount": 50,
                                                                 "currency": "EUR"}) is None
    await service.decide(held.id, FIN, "approve")
    found = await service.find_approved(ALICE, "refund_payment", {"payment_id": "pay_123", "amount": 50,
                                                                  "currency": "EUR"})
    assert found is not None
    assert found.id == held.id
    await refused("approval_not_found", 404, service.use(held.id, RITA))
    _, arguments = await service.use(held.id, ALICE)
    assert arguments["amount"] == 50
    await refused("approval_used", 409, service.use(held.id, ALICE))
    await refused("approval_decided", 409, service.decide(held.id, person("fiona", groups=("finance",)), "reject"))
    records = await services.records("req_test_refund")
    assert [r["event"] for r in records] == ["approval.requested", "approval.approved", "approval.used"]
    assert all(r["tool"] == "refund_payment" and r["approval_id"] == held.id for r in records)
    assert len({r["arguments_digest"] for r in records}) == 1


async def test_a_rejected_request_cannot_be_used(services: ServiceFactory) -> None:
    service = await services()
    held = await hold_refund(service)
    await service.decide(held.id, FIN, "reject", "duplicate refund")
    error = await refused("approval_rejected", 403, service.use(held.id, ALICE))
    assert "duplicate refund" in error.message


# -- durability and the record ----------------------------------------------------------------------

async def test_requests_survive_a_restart(services: ServiceFactory) -> None:
    before = await services()
    created = await propose(before, "pair")
    held = await hold_refund(before)
    await before.decide(created.id, RITA, "approve")
    await services.stop(before)

    after = await services(recheck=refund_rules)
    found = await after.get(created.id)
    assert found is not None
    assert (found.state, found.approvals, found.title) == ("pending", 1, "Raise the refund limit")
    assert (await after.decide(created.id, RON, "approve")).state == "approved"
    # The sealed arguments open with the deployment's key in the new process too.
    await after.decide(held.id, FIN, "approve", edits={"amount": 10})
    assert (await after.use(held.id, ALICE))[1]["amount"] == 10


async def test_every_step_is_in_the_audit_log(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service, "pair", app=BOT)
    await service.decide(created.id, RITA, "approve", "ok")
    await service.decide(created.id, RON, "approve", "ok too")
    records = await services.records(created.id)
    assert [r["event"] for r in records] == ["approval.requested", "approval.vote", "approval.approved"]
    for record in records:
        assert record["endpoint"] == "approvals"
        assert record["approval_id"] == created.id
        assert (record["tenant"], record["requester"], record["app"], record["route"]) == ("acme", "alice",
                                                                                          "support-bot", "pair")
        assert record["quorum"] == 2
    assert [r["principal"] for r in records] == ["alice", "rita", "ron"]
    assert [r["approvals"] for r in records] == [0, 1, 2]
    assert [r["state"] for r in records] == ["pending", "pending", "approved"]
    assert records[2]["decision"] == {"by": "ron", "decision": "approve", "reason": "ok too", "edited": []}


async def test_stopping_lets_webhook_deliveries_finish(services: ServiceFactory, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(WEBHOOK_SECRET, encoding="utf-8")
    with WebhookReceiver() as receiver:
        service = await services(webhook=Webhook(webhook_settings(receiver.url, secret)))
        created = await propose(service)
        await service.decide(created.id, RITA, "approve")
        await services.stop(service)
        # Deliveries run side by side, so they may arrive in either order; each says what it reports.
        assert sorted(receiver.events(created.id)) == ["approval.approved", "approval.requested"]
        assert all(d.signed_with(WEBHOOK_SECRET) for d in receiver.about(created.id))
        assert not any(d.signed_with("another-secret-0123456789") for d in receiver.about(created.id))


# -- nothing stands without its audit record -------------------------------------------------------

class _LogDown(Exception):
    pass


def break_the_log(service: ApprovalService, monkeypatch: pytest.MonkeyPatch) -> None:
    async def append(record: dict[str, Any], payload: dict[str, Any] | None = None, **_: Any) -> int:
        raise _LogDown("the audit log cannot be written")

    monkeypatch.setattr(service._writer, "append", append)


async def test_a_request_the_log_cannot_record_is_not_kept(services: ServiceFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    service = await services()
    break_the_log(service, monkeypatch)
    with pytest.raises(_LogDown):
        await propose(service)
    assert await service.search("acme") == []


async def test_a_decision_the_log_cannot_record_is_undone(services: ServiceFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    service = await services()
    created = await propose(service)
    with monkeypatch.context() as patch:
        break_the_log(service, patch)
        with pytest.raises(_LogDown):
            await service.decide(created.id, RITA, "approve", "fine")
        still = await service.get(created.id)
        assert still is not None
        assert (still.state, still.votes) == ("pending", [])
    # Once the log works again the same decision goes through, recorded.
    decided = await service.decide(created.id, RITA, "approve", "fine")
    assert decided.state == "approved"
    events = [r["event"] for r in await services.records(created.id)]
    assert events == ["approval.requested", "approval.approved"]


async def test_an_approvers_queue_is_not_hidden_behind_newer_requests_for_others(services: ServiceFactory) -> None:
    service = await services()
    # One payment for finance, then many newer proposals for the reviewers.
    payment = await service.propose(ALICE, None, title="Refund 40 EUR", details="pay_1", route="payments")
    for i in range(40):
        await service.propose(ALICE, None, title=f"Proposal {i}", details="x")
    assert [a.id for a in await service.pending_for(FIN, limit=5)] == [payment.id]
    assert len(await service.pending_for(RITA, limit=5)) == 5


async def test_refused_decisions_are_recorded(services: ServiceFactory) -> None:
    service = await services()
    created = await propose(service)
    await refused("approval_self", 403, service.decide(created.id, ALICE, "approve"))
    await refused("approval_forbidden", 403, service.decide(created.id, OUTSIDER, "approve"))
    await service.decide(created.id, RITA, "reject", "not now")
    await refused("approval_decided", 409, service.decide(created.id, RON, "approve"))
    records = await services.records(created.id, refused=True)
    refusals = [(r["principal"], r["refusal_code"]) for r in records if r["event"] == "approval.decision_refused"]
    assert refusals == [("alice", "approval_self"), ("olga", "approval_forbidden"), ("ron", "approval_decided")]
    assert all(r["outcome"] == "refused" for r in records if r["event"] == "approval.decision_refused")
    # Asking about a request of another tenant records nothing there.
    await refused("approval_not_found", 404, service.decide(created.id, OTHER_TENANT, "approve"))
    assert len(await services.records(created.id, refused=True)) == len(records)
