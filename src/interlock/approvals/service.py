"""Approval requests: created when policy holds an action, decided by the right people, expired and
escalated on time, announced by webhook, and written to the audit log at every step.

The store is the source of truth, so any worker (or a restarted gateway) sees the same requests.
Every change is a compare-and-set on the request's version: two approvers deciding at once, or a
decision racing the expiry sweep, cannot both win. Waiters are woken in-process at once and poll
the store otherwise, so a decision taken in another worker is seen within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from interlock.approvals.model import (
    FINAL_STATES,
    Approval,
    Approvers,
    Vote,
    decode,
    encode,
    from_snapshot,
    snapshot,
)
from interlock.approvals.texts import seal
from interlock.approvals.webhook import Webhook
from interlock.audit.writer import AuditWriter
from interlock.errors import Refusal
from interlock.identity.principal import Principal
from interlock.redact.placeholders import PlaceholderMap
from interlock.redact.vault import VaultCipher
from interlock.settings import ApprovalRouteSettings, ApprovalSettings
from interlock.store.base import ApprovalConflict, ApprovalRow, ApprovalWrite, Store
from interlock.tasks import cancel_and_wait

log = logging.getLogger("interlock.approvals")

_POLL_SECONDS = 0.25
_CAS_ATTEMPTS = 8
_PENDING_SCAN = 10_000
_canonical = msgspec.json.Encoder(order="sorted").encode

# What the view shows for an argument an approver changed (its new value is sealed with the rest).
EDITED = "[edited]"

# Checks edited arguments as policy would check the original call; returns a problem, or "" if fine.
Recheck = Callable[[Principal, Principal | None, str, dict[str, Any]], str]


class ApprovalRefused(Refusal):
    """A request about an approval that cannot be granted (wrong person, wrong state, too late)."""

    status = 403
    code = "approval_forbidden"
    type = "permission_error"


def not_found(approval_id: str) -> Refusal:
    return Refusal(f"There is no approval request {approval_id!r} that you may see.", code="approval_not_found",
                   status=404)


def arguments_digest(tool: str, arguments: dict[str, Any]) -> str:
    return hashlib.sha256(tool.encode() + b"\0" + _canonical(arguments)).hexdigest()


def _approvers(s: Any) -> Approvers:
    return Approvers(roles=list(s.roles), groups=list(s.groups))


class ApprovalService:
    def __init__(self, store: Store, settings: ApprovalSettings, writer: AuditWriter,
                 cipher: Callable[[], VaultCipher], webhook: Webhook | None = None, *,
                 recheck: Recheck | None = None) -> None:
        self._store = store
        self.settings = settings
        self._writer = writer
        self._cipher_factory = cipher
        self._cipher: VaultCipher | None = None
        self._webhook = webhook
        # One event per request someone waits on, and how many wait; dropped when the last one leaves.
        self._changed: dict[str, tuple[asyncio.Event, int]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.recheck = recheck

    # ---- lifecycle

    async def start(self) -> None:
        if self._webhook is not None:
            await self._webhook.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="interlock-approvals-sweeper")

    async def stop(self) -> None:
        await cancel_and_wait(self._sweeper)
        self._sweeper = None
        if self._webhook is not None:
            await self._webhook.stop()

    @property
    def cipher(self) -> VaultCipher:
        if self._cipher is None:
            self._cipher = self._cipher_factory()
        return self._cipher

    def route(self, name: str) -> ApprovalRouteSettings:
        route = self.settings.routes.get(name)
        if route is None:
            raise Refusal(f"There is no approval route {name!r}; known routes: {sorted(self.settings.routes)}.",
                          code="invalid_request", status=400)
        return route

    # ---- creating

    def _new(self, principal: Principal, app: Principal | None, kind: Literal["tool_call", "proposal"],
             route_name: str, **fields: Any) -> Approval:
        route = self.route(route_name)
        now = time.time()
        escalate = route.escalate_to
        return Approval(
            id="apr_" + secrets.token_hex(12), tenant=principal.tenant, kind=kind, state="pending", created=now,
            expires=now + route.expires_after_seconds, requester=principal.id, requester_kind=principal.kind,
            app=app.id if app is not None else None, route=route_name,
            requester_snapshot=snapshot(principal), app_snapshot=snapshot(app) if app is not None else None,
            approvers=_approvers(route.approvers), quorum=route.quorum,
            escalate_at=now + route.escalate_after_seconds if route.escalate_after_seconds is not None else None,
            escalate_to=_approvers(escalate) if escalate is not None else None,
            editable=list(route.editable_arguments), **fields)

    async def request_tool_call(self, principal: Principal, app: Principal | None, *, tool: str, route: str,
                                arguments: dict[str, Any], arguments_view: dict[str, Any],
                                policy_ids: tuple[str, ...], reason: str, request_id: str | None = None,
                                tool_call_id: str | None = None) -> Approval:
        """Hold a tool call for a person. ``arguments`` are sealed (they run if approved); approvers see
        ``arguments_view``, the redacted form."""
        approval = self._new(principal, app, "tool_call", route, tool=tool, arguments_view=arguments_view,
                             arguments_digest=arguments_digest(tool, arguments), policy_ids=list(policy_ids),
                             reason=reason, request_id=request_id, tool_call_id=tool_call_id)
        approval.arguments_sealed = self.cipher.seal_bytes(_canonical(arguments), approval.id)
        await self._insert(approval, principal)
        return approval

    async def propose(self, principal: Principal, app: Principal | None, *, title: str, details: str,
                      route: str = "default", reason: str = "", request_id: str | None = None,
                      placeholders: PlaceholderMap | None = None) -> Approval:
        """A free-form proposal for a person to decide (decision support). The texts come as they may be
        stored (approvals/texts.py); ``placeholders`` holds the values behind theirs, sealed here."""
        approval = self._new(principal, app, "proposal", route, title=title, details=details, reason=reason,
                             request_id=request_id)
        if placeholders is not None:
            approval.texts_sealed = seal(self.cipher, placeholders, approval.id)
        await self._insert(approval, principal)
        return approval

    async def _insert(self, approval: Approval, actor: Principal) -> None:
        # Stored in the transaction that records it: a request the audit log does not know of never exists.
        await self._announce("approval.requested", approval, actor.id,
                             {"arguments": approval.arguments_view} if approval.kind == "tool_call"
                             else {"title": approval.title, "details": approval.details},
                             ApprovalWrite(self._row(approval, 0)))

    async def _change(self, row: ApprovalRow, approval: Approval, event: str, actor: str | None,
                      payload: dict[str, Any] | None) -> bool:
        """Store ``approval`` over ``row`` (compare-and-set) in the transaction that records it: no
        decision, expiry or use stands without its record (fail closed). False if the row changed."""
        try:
            await self._announce(event, approval, actor, payload,
                                 ApprovalWrite(self._row(approval, row.version + 1), row.version))
        except ApprovalConflict:
            return False
        return True

    # ---- reading

    async def get(self, approval_id: str) -> Approval | None:
        row = await self._store.approval_get(approval_id)
        if row is None:
            return None
        return await self._catch_up(decode(row.doc))

    async def _catch_up(self, approval: Approval) -> Approval:
        """Apply what time has made due (expiry, escalation) now, rather than at the sweeper's next turn."""
        if approval.state != "pending":
            return approval
        now = time.time()
        if now >= approval.expires:
            return await self._expire(approval.id) or approval
        if approval.escalation_due(now):
            return await self._escalate(approval.id) or approval
        return approval

    def may_see(self, approval: Approval, principal: Principal, *, admin: bool = False) -> bool:
        if principal.tenant != approval.tenant:
            return False
        return admin or principal.id in (approval.requester, approval.app) or approval.approvers.include(principal) \
            or (approval.escalate_to is not None and approval.escalate_to.include(principal))

    async def get_for(self, approval_id: str, principal: Principal, *, admin: bool = False) -> Approval:
        approval = await self.get(approval_id)
        if approval is None or not self.may_see(approval, principal, admin=admin):
            raise not_found(approval_id)
        return approval

    async def wait(self, approval_id: str, seconds: float) -> Approval | None:
        """The request once it is decided or expired, or as it stands when ``seconds`` have passed."""
        deadline = time.monotonic() + max(0.0, seconds)
        event, waiting = self._changed.get(approval_id, (asyncio.Event(), 0))
        self._changed[approval_id] = (event, waiting + 1)
        try:
            while True:
                approval = await self.get(approval_id)
                if approval is None or approval.state != "pending":
                    return approval
                if deadline - time.monotonic() <= 0:
                    return approval
                # Wake for a change in this process, at expiry or escalation, or to poll the store
                # (a decision taken by another worker or the command line).
                left = min(deadline - time.monotonic(), approval.due() - time.time() + 0.05)
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=max(0.01, min(_POLL_SECONDS, left)))
        finally:
            event, waiting = self._changed[approval_id]
            if waiting <= 1:
                del self._changed[approval_id]
            else:
                self._changed[approval_id] = (event, waiting - 1)

    async def pending_for(self, approver: Principal, limit: int = 100) -> list[Approval]:
        """Pending requests this approver may decide now and has not voted on yet, newest first.

        Every pending request of the tenant is looked at (up to ``_PENDING_SCAN``, far more than people
        can work through), so a request for this approver is not hidden behind newer ones for others."""
        rows = await self._store.approvals_query(tenant=approver.tenant, state="pending", limit=_PENDING_SCAN)
        out = []
        for row in rows:
            approval = decode(row.doc)
            if not approval.may_decide(approver) and not (approval.escalate_to is not None
                                                           and approval.escalate_to.include(approver)):
                continue
            current = (await self._current([row]))[0]
            if current.state == "pending" and current.may_decide(approver) \
                    and all(v.by != approver.id for v in current.votes):
                out.append(current)
                if len(out) >= limit:
                    break
        return out

    async def search(self, tenant: str | None, state: str | None = None, limit: int = 100) -> list[Approval]:
        rows = await self._store.approvals_query(tenant=tenant, state=state, limit=limit)
        return [a for a in await self._current(rows) if state is None or a.state == state]

    async def _current(self, rows: list[ApprovalRow]) -> list[Approval]:
        """The requests as they stand now: those due for expiry or escalation are brought up to date."""
        now = time.time()
        return [await self._catch_up(decode(r.doc)) if r.due <= now else decode(r.doc) for r in rows]

    def arguments_of(self, approval: Approval) -> dict[str, Any]:
        if approval.arguments_sealed is None:
            return {}
        value = msgspec.json.decode(self.cipher.open_bytes(approval.arguments_sealed, approval.id))
        assert isinstance(value, dict)
        return value

    # ---- deciding

    async def decide(self, approval_id: str, approver: Principal, decision: Literal["approve", "reject"],
                     reason: str = "", edits: dict[str, Any] | None = None, *,
                     app: Principal | None = None, placeholders: PlaceholderMap | None = None) -> Approval:
        """One approver's vote. ``app`` is the application the approver decides through, if any: it may not
        be the requester or the app that asked either. A refused attempt on a request the approver's tenant
        holds (their own request, not their route, too late, already decided) is recorded too."""
        try:
            sealed = seal(self.cipher, placeholders, approval_id) if placeholders is not None else None
            return await self._decide(approval_id, approver, decision, reason, edits, app, sealed)
        except Refusal as refusal:
            if refusal.code not in ("approval_not_found", "approval_conflict"):
                await self._record_refused(approval_id, approver, decision, refusal)
            raise

    async def _decide(self, approval_id: str, approver: Principal, decision: Literal["approve", "reject"],
                      reason: str, edits: dict[str, Any] | None, app: Principal | None,
                      sealed: bytes | None = None) -> Approval:
        for _ in range(_CAS_ATTEMPTS):
            row = await self._store.approval_get(approval_id)
            if row is None:
                raise not_found(approval_id)
            approval = decode(row.doc)
            if approval.tenant != approver.tenant:
                raise not_found(approval_id)
            now = time.time()
            if approval.state == "pending" and now < approval.expires and approval.escalation_due(now):
                # Escalation is due: record it first, then decide on the widened request.
                await self._escalate(approval_id)
                continue
            self._check_decider(approval, approver, app)
            if now >= approval.expires:
                await self._expire(approval_id)
                raise ApprovalRefused(f"Approval request {approval_id} expired before it was decided; an expired "
                                      f"request counts as rejected.", code="approval_expired", status=409)
            edited: list[str] = []
            if edits:
                if decision != "approve" or approval.kind != "tool_call":
                    raise Refusal("Arguments can only be edited when approving a tool call.",
                                  code="invalid_request", status=400)
                edited = self._apply_edits(approval, edits)
            approval.votes = [*approval.votes, Vote(approver.id, approver.kind, decision, now, reason[:2000], edited,
                                                    sealed)]
            event = "approval.vote"
            if decision == "reject":
                approval.state, approval.decided_at, approval.outcome_reason = "rejected", now, reason[:2000]
                approval.outcome_sealed = sealed
                event = "approval.rejected"
            elif approval.approvals >= approval.quorum:
                approval.state, approval.decided_at = "approved", now
                event = "approval.approved"
            if await self._change(row, approval, event, approver.id,
                                  {"edited": edited, "arguments": approval.arguments_view} if edited else None):
                return approval
        raise ApprovalRefused(f"Approval request {approval_id} kept changing while it was being decided; "
                              f"try again.", code="approval_conflict", status=409)

    def _check_decider(self, approval: Approval, approver: Principal, app: Principal | None) -> None:
        parties = (approval.requester, approval.app)
        if approver.id in parties or (app is not None and app.id in parties):
            raise ApprovalRefused("Nobody may decide their own request, nor the application that made it.",
                                  code="approval_self")
        # Who may decide is checked before the state, so others learn nothing about the request's progress.
        if not approval.may_decide(approver):
            who = approval.approvers.describe()
            if approval.escalated and approval.escalate_to is not None:
                who += " or " + approval.escalate_to.describe()
            raise ApprovalRefused(f"You may not decide approval request {approval.id}: it is for {who}.")
        if approval.state == "expired":
            raise ApprovalRefused(f"Approval request {approval.id} expired before it was decided; an expired "
                                  f"request counts as rejected.", code="approval_expired", status=409)
        if approval.state in FINAL_STATES:
            raise ApprovalRefused(f"Approval request {approval.id} is already {approval.state}.",
                                  code="approval_decided", status=409)
        if any(v.by == approver.id for v in approval.votes):
            raise ApprovalRefused(f"You have already decided on approval request {approval.id}; "
                                  f"a quorum needs different people.", code="approval_decided", status=409)

    def _apply_edits(self, approval: Approval, edits: dict[str, Any]) -> list[str]:
        not_editable = sorted(set(edits) - set(approval.editable))
        if not_editable:
            raise Refusal(f"These arguments may not be edited on approval: {', '.join(not_editable)}. "
                          f"Editable: {', '.join(approval.editable) or 'none'}.", code="approval_edit_invalid",
                          status=400)
        arguments = {**self.arguments_of(approval), **edits}
        if self.recheck is None or approval.tool is None:
            raise Refusal("Edited arguments cannot be checked here, so they are refused.",
                          code="approval_edit_invalid", status=400)
        requester = from_snapshot(approval.requester_snapshot)
        app = from_snapshot(approval.app_snapshot) if approval.app_snapshot is not None else None
        problem = self.recheck(requester, app, approval.tool, arguments)
        if problem:
            raise Refusal(f"The edited call would not be allowed: {problem}", code="approval_edit_invalid",
                          status=400)
        approval.arguments_sealed = self.cipher.seal_bytes(_canonical(arguments), approval.id)
        approval.arguments_digest = arguments_digest(approval.tool, arguments)
        view = dict(approval.arguments_view or {})
        for name in edits:
            view[name] = EDITED
        approval.arguments_view = view
        return sorted(edits)

    # ---- using an approved request

    async def use(self, approval_id: str, principal: Principal) -> tuple[Approval, dict[str, Any]]:
        """Spend an approved tool-call request once, by its requester: the arguments to run."""
        for _ in range(_CAS_ATTEMPTS):
            row = await self._store.approval_get(approval_id)
            approval = decode(row.doc) if row is not None else None
            if approval is None or row is None or approval.tenant != principal.tenant \
                    or principal.id not in (approval.requester, approval.app):
                raise not_found(approval_id)
            if approval.state == "pending" and time.time() >= approval.expires:
                approval = await self._expire(approval_id) or approval
            if approval.state != "approved":
                raise approval_state_refusal(approval)
            arguments = self.arguments_of(approval)
            approval.state, approval.used_at = "used", time.time()
            if await self._change(row, approval, "approval.used", principal.id, None):
                return approval, arguments
        raise ApprovalRefused(f"Approval request {approval_id} kept changing; try again.", code="approval_conflict",
                              status=409)

    async def find_approved(self, principal: Principal, tool: str, arguments: dict[str, Any]) -> Approval | None:
        """An approved, unused request by this caller for exactly this call (a retry after approval)."""
        digest = arguments_digest(tool, arguments)
        for row in await self._store.approvals_query(tenant=principal.tenant, state="approved", limit=200):
            approval = decode(row.doc)
            if approval.requester == principal.id and approval.tool == tool and approval.arguments_digest == digest:
                return approval
        return None

    # ---- time

    async def _expire(self, approval_id: str, now: float | None = None) -> Approval | None:
        for _ in range(_CAS_ATTEMPTS):
            row = await self._store.approval_get(approval_id)
            if row is None:
                return None
            approval = decode(row.doc)
            at = time.time() if now is None else now
            if approval.state != "pending" or at < approval.expires:
                return approval
            approval.state, approval.decided_at, approval.outcome_reason = "expired", at, "expired"
            if await self._change(row, approval, "approval.expired", None, None):
                return approval
        return None

    async def _escalate(self, approval_id: str, now: float | None = None) -> Approval | None:
        for _ in range(_CAS_ATTEMPTS):
            row = await self._store.approval_get(approval_id)
            if row is None:
                return None
            approval = decode(row.doc)
            if approval.state != "pending" or not approval.escalation_due(time.time() if now is None else now):
                return approval
            approval.escalated = True
            if await self._change(row, approval, "approval.escalated", None, None):
                return approval
        return None

    async def sweep(self, now: float | None = None) -> int:
        """Expire and escalate what is due; returns how many requests changed."""
        now = time.time() if now is None else now
        changed = 0
        for row in await self._store.approvals_due(now, 500):
            approval = decode(row.doc)
            if approval.state != "pending":
                continue
            if now >= approval.expires:
                expired = await self._expire(approval.id, now)
                if expired is not None and expired.state == "expired":
                    changed += 1
                continue
            if approval.escalation_due(now):
                escalated = await self._escalate(approval.id, now)
                if escalated is not None and escalated.escalated:
                    changed += 1
        return changed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("approval sweep failed; retrying")

    # ---- recording and telling

    def _row(self, approval: Approval, version: int) -> ApprovalRow:
        due = approval.due()
        return ApprovalRow(approval.id, approval.tenant, approval.state, approval.requester, approval.created,
                           due if due != float("inf") else 1e18, version, encode(approval))

    async def _announce(self, event: str, approval: Approval, actor: str | None,
                        payload: dict[str, Any] | None, write: ApprovalWrite) -> None:
        """The change and its audit record in one transaction (the operation fails if they cannot be
        written), then wake waiters and notify."""
        record: dict[str, Any] = {
            "v": 1, "request_id": approval.request_id or approval.id, "time": round(time.time(), 6),
            "endpoint": "approvals", "event": event, "approval_id": approval.id, "kind": approval.kind,
            "state": approval.state, "tenant": approval.tenant, "principal": actor or "interlock",
            "requester": approval.requester, "route": approval.route, "status": 200, "outcome": "ok",
            "policy_ids": approval.policy_ids, "approvals": approval.approvals, "quorum": approval.quorum,
        }
        if approval.app:
            record["app"] = approval.app
        if approval.tool:
            record["tool"] = approval.tool
            record["arguments_digest"] = approval.arguments_digest
        if event in ("approval.rejected", "approval.vote", "approval.approved") and approval.votes:
            last = approval.votes[-1]
            record["decision"] = {"by": last.by, "decision": last.decision, "reason": last.reason,
                                  "edited": last.edited}
        await self._writer.append(record, payload, approval=write)
        waiter = self._changed.get(approval.id)
        if waiter is not None:
            waiter[0].set()
        if self._webhook is not None:
            self._webhook.notify(event, approval.view())


    async def _record_refused(self, approval_id: str, approver: Principal, decision: str, refusal: Refusal) -> None:
        """The audit record of a decision that was refused; the refusal stands whether or not it is written."""
        row = await self._store.approval_get(approval_id)
        if row is None or row.tenant != approver.tenant:
            return
        approval = decode(row.doc)
        record: dict[str, Any] = {
            "v": 1, "request_id": approval.request_id or approval.id, "time": round(time.time(), 6),
            "endpoint": "approvals", "event": "approval.decision_refused", "approval_id": approval.id,
            "kind": approval.kind, "state": approval.state, "tenant": approval.tenant, "principal": approver.id,
            "requester": approval.requester, "route": approval.route, "status": refusal.status,
            "outcome": "refused", "refusal_code": refusal.code, "decision": {"by": approver.id, "decision": decision},
        }
        if approval.tool:
            record["tool"] = approval.tool
        try:
            await self._writer.append(record, None)
        except Exception:
            log.exception("the refused decision on %s could not be recorded", approval_id)


def approval_state_refusal(approval: Approval) -> Refusal:
    """Why an approval cannot be used now, as a refusal the client can branch on."""
    if approval.state == "pending":
        return Refusal(f"Approval request {approval.id} is still pending; wait for it "
                       f"(GET /v1/approvals/{approval.id}/wait) and try again.", code="approval_pending", status=409)
    if approval.state == "rejected":
        why = f": {approval.outcome_reason}" if approval.outcome_reason else ""
        return ApprovalRefused(f"Approval request {approval.id} was rejected{why}.", code="approval_rejected")
    if approval.state == "expired":
        return ApprovalRefused(f"Approval request {approval.id} expired without a decision, which counts as "
                               f"rejected.", code="approval_expired")
    if approval.state == "used":
        return ApprovalRefused(f"Approval request {approval.id} was already used; an approval runs its call once.",
                               code="approval_used", status=409)
    return ApprovalRefused(f"Approval request {approval.id} is {approval.state}.")
