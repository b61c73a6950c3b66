"""What a person or a client may do with approval requests, for every surface that offers it.

The HTTP API (``api/approvals.py``) and the command line (``interlock approvals``) both call these, so a
proposal, a decision or a listing is checked, masked and recorded the same way wherever it comes from.
A request the caller may not see is answered exactly like one that does not exist, so its existence is
never revealed; a refusal on a visible request comes from the service as it raised it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from interlock.approvals.model import Approval
from interlock.approvals.service import ApprovalService, not_found
from interlock.detect.finding import Finding
from interlock.errors import Forbidden, InvalidRequest
from interlock.identity.principal import Principal
from interlock.redact import ActionPolicy, PlaceholderMap, redact

ADMIN_ROLE = "admin"
STATES = ("pending", "approved", "rejected", "expired", "used")

# Secrets never rest in the clear in a proposal, a reason or the audit log; other text is kept as written.
_SECRETS_MASKED = ActionPolicy({"secret.*": "mask"}, default="allow")

Scan = Callable[[str], list[Finding]]
View = dict[str, Any]


def is_admin(principal: Principal) -> bool:
    return ADMIN_ROLE in principal.roles


class ApprovalActions:
    """Proposals, status, long-poll, the approver's queue and decisions, over the approval service.

    ``scan`` finds the secrets to mask in free text; ``max_wait_seconds`` caps a long-poll."""

    def __init__(self, service: ApprovalService, scan: Scan, *, max_wait_seconds: float) -> None:
        self.service = service
        self._scan = scan
        self.max_wait_seconds = max_wait_seconds

    def mask_secrets(self, text: str) -> str:
        """``text`` with every secret (``secret.*``) masked for good; everything else as written."""
        if not text:
            return text
        findings = self._scan(text)
        if not findings:
            return text
        return redact(text, findings, _SECRETS_MASKED, PlaceholderMap("approvals")).text

    async def create_proposal(self, principal: Principal, app: Principal | None, *, title: str, details: str,
                              route: str, reason: str, request_id: str) -> View:
        """A free-form proposal for a person to decide."""
        if not title.strip():
            raise InvalidRequest("title must not be blank.", param="title")
        approval = await self.service.propose(
            principal, app, title=self.mask_secrets(title.strip()), details=self.mask_secrets(details),
            route=route, reason=self.mask_secrets(reason), request_id=request_id)
        return approval.view()

    async def show_approval(self, principal: Principal, approval_id: str) -> View:
        return (await self._visible(principal, approval_id)).view()

    async def wait_approval(self, principal: Principal, approval_id: str, seconds: float) -> View:
        """The request once decided or expired, or as it stands after ``seconds`` (capped)."""
        await self._visible(principal, approval_id)
        approval = await self.service.wait(approval_id, min(seconds, self.max_wait_seconds))
        if approval is None:
            raise not_found(approval_id)
        return approval.view()

    async def list_approvals(self, principal: Principal, *, state: str | None = None, everything: bool = False,
                             limit: int = 100) -> list[View]:
        """What the caller may decide now; other states and everything for administrators."""
        if state is not None and state not in STATES:
            raise InvalidRequest(f"state must be one of {', '.join(STATES)}.", param="state")
        if everything or state not in (None, "pending"):
            if not is_admin(principal):
                raise Forbidden("Only administrators may list approval requests beyond the pending ones they may "
                                "decide; leave out state and all.")
            found = await self.service.search(principal.tenant, state, limit)
        else:
            found = await self.service.pending_for(principal, limit)
        return [a.view() for a in found]

    async def decide_approval(self, principal: Principal, app: Principal | None, approval_id: str,
                              decision: Literal["approve", "reject"], reason: str,
                              arguments: dict[str, Any] | None) -> View:
        """One approver's vote (with edits when approving a tool call).

        Refusals are the service's: another tenant's request is not found, someone of this tenant outside
        the approvers is told who may decide (request ids are random, so this reveals nothing guessable)."""
        approval = await self.service.decide(approval_id, principal, decision, self.mask_secrets(reason),
                                             arguments or None, app=app)
        return approval.view()

    async def _visible(self, principal: Principal, approval_id: str) -> Approval:
        return await self.service.get_for(approval_id, principal, admin=is_admin(principal))
