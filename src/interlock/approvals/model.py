"""An approval request and the decisions on it, as stored (one JSON document per request)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from interlock.identity.principal import Principal

Kind = Literal["tool_call", "proposal"]
State = Literal["pending", "approved", "rejected", "expired", "used"]
FINAL_STATES: frozenset[str] = frozenset({"approved", "rejected", "expired", "used"})


class Vote(msgspec.Struct, frozen=True):
    by: str
    by_kind: str
    decision: Literal["approve", "reject"]
    at: float
    reason: str = ""
    # Argument names this approver changed (the values stay sealed).
    edited: list[str] = []
    # The values behind the placeholders in ``reason``, sealed (approvals/texts.py).
    reason_sealed: bytes | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        out.pop("reason_sealed", None)
        return out


class Approvers(msgspec.Struct, frozen=True):
    roles: list[str] = []
    groups: list[str] = []

    def include(self, principal: Principal) -> bool:
        return bool(principal.roles.intersection(self.roles) or principal.groups.intersection(self.groups))

    def describe(self) -> str:
        parts = [f"role {r!r}" for r in self.roles] + [f"group {g!r}" for g in self.groups]
        return " or ".join(parts) or "nobody"


class Approval(msgspec.Struct):
    id: str
    tenant: str
    kind: Kind
    state: State
    created: float
    expires: float
    # Who asked: the subject of the call (the end user when an app acts for one) and the acting app.
    requester: str
    requester_kind: str
    app: str | None
    route: str
    # The requester and app as policy saw them when asking (roles, groups), to check edited arguments again.
    requester_snapshot: dict[str, Any]
    app_snapshot: dict[str, Any] | None
    approvers: Approvers
    quorum: int
    escalate_at: float | None = None
    escalate_to: Approvers | None = None
    escalated: bool = False
    editable: list[str] = []
    # Why it needs approval: the policies that said so, in words.
    policy_ids: list[str] = []
    reason: str = ""
    # What: a tool call (arguments shown redacted; the real ones sealed) or a free-form proposal.
    tool: str | None = None
    arguments_view: dict[str, Any] | None = None
    arguments_sealed: bytes | None = None
    arguments_digest: str | None = None
    title: str = ""
    details: str = ""
    # The values behind the placeholders in ``title``, ``details`` and ``reason`` (a proposal's), and in
    # ``outcome_reason``, sealed (approvals/texts.py).
    texts_sealed: bytes | None = None
    outcome_sealed: bytes | None = None
    # Where it came from: the call that proposed it and the tool call's id in that response.
    request_id: str | None = None
    tool_call_id: str | None = None
    votes: list[Vote] = []
    decided_at: float | None = None
    used_at: float | None = None
    # Why it ended (rejection reason, "expired").
    outcome_reason: str = ""

    @property
    def approvals(self) -> int:
        return sum(1 for v in self.votes if v.decision == "approve")

    def may_decide(self, principal: Principal) -> bool:
        """In the approver set now (escalation widens it); never the requester or the acting app."""
        if principal.tenant != self.tenant or principal.id in (self.requester, self.app):
            return False
        if self.approvers.include(principal):
            return True
        return self.escalated and self.escalate_to is not None and self.escalate_to.include(principal)

    def escalation_due(self, now: float) -> bool:
        """Pending past ``escalate_at`` and not escalated yet."""
        return self.state == "pending" and self.escalate_at is not None and not self.escalated \
            and now >= self.escalate_at

    def due(self) -> float:
        """When the sweeper next needs to look at this request."""
        if self.state != "pending":
            return float("inf")
        if self.escalate_at is not None and not self.escalated:
            return min(self.escalate_at, self.expires)
        return self.expires

    def view(self) -> dict[str, Any]:
        """What callers and approvers see: never the sealed arguments."""
        out: dict[str, Any] = {
            "id": self.id, "object": "approval", "kind": self.kind, "state": self.state, "tenant": self.tenant,
            "created": self.created, "expires": self.expires, "requester": self.requester,
            "requester_kind": self.requester_kind, "app": self.app, "route": self.route,
            "approvers": {"roles": self.approvers.roles, "groups": self.approvers.groups},
            "quorum": self.quorum, "approvals": self.approvals, "escalated": self.escalated,
            "policy_ids": self.policy_ids, "reason": self.reason,
            "votes": [v.view() for v in self.votes],
        }
        if self.escalate_to is not None:
            out["escalate_at"] = self.escalate_at
            out["escalate_to"] = {"roles": self.escalate_to.roles, "groups": self.escalate_to.groups}
        if self.kind == "tool_call":
            out.update(tool=self.tool, arguments=self.arguments_view, editable_arguments=self.editable,
                       tool_call_id=self.tool_call_id)
        else:
            out.update(title=self.title, details=self.details)
        for key in ("request_id", "decided_at", "used_at"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.outcome_reason:
            out["outcome_reason"] = self.outcome_reason
        return out


encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(Approval).decode


def snapshot(p: Principal) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "tenant": p.tenant, "roles": sorted(p.roles), "groups": sorted(p.groups),
            "may_act_for": p.may_act_for, "name": p.name}


def from_snapshot(d: dict[str, Any]) -> Principal:
    return Principal(id=str(d["id"]), kind=d["kind"], tenant=str(d["tenant"]), roles=frozenset(d.get("roles", ())),
                     groups=frozenset(d.get("groups", ())), may_act_for=bool(d.get("may_act_for")),
                     name=str(d.get("name", "")))
