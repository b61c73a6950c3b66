"""What a person or a client may do with approval requests, for every surface that offers it.

The HTTP API (``api/approvals.py``) and the command line (``interlock approvals``) both call these, so a
proposal, a decision or a listing is checked, protected and recorded the same way wherever it comes from.
Free text passes detection and policy before it is stored, and is restored for each reader only where
policy lets that reader see the class (``texts.py``).
A request the caller may not see is answered exactly like one that does not exist, so its existence is
never revealed; a refusal on a visible request comes from the service as it raised it.
"""

from __future__ import annotations

from typing import Any, Literal

from interlock.approvals.model import Approval
from interlock.approvals.service import EDITED, ApprovalService, not_found
from interlock.approvals.texts import TextGuard, unseal
from interlock.errors import Forbidden, InvalidRequest
from interlock.identity.principal import Principal

ADMIN_ROLE = "admin"
STATES = ("pending", "approved", "rejected", "expired", "used")

View = dict[str, Any]


def is_admin(principal: Principal) -> bool:
    return ADMIN_ROLE in principal.roles


class ApprovalActions:
    """Proposals, status, long-poll, the approver's queue and decisions, over the approval service.

    ``texts`` protects the free text written and reveals it to each reader; ``max_wait_seconds`` caps a
    long-poll. Views are for one reader (``app``: the application it reads through, if any)."""

    def __init__(self, service: ApprovalService, texts: TextGuard, *, max_wait_seconds: float) -> None:
        self.service = service
        self._texts = texts
        self.max_wait_seconds = max_wait_seconds

    async def create_proposal(self, principal: Principal, app: Principal | None, *, title: str, details: str,
                              route: str, reason: str, request_id: str) -> View:
        """A free-form proposal for a person to decide."""
        if not title.strip():
            raise InvalidRequest("title must not be blank.", param="title")
        stored, placeholders = self._texts.protect(principal, app, {"title": title.strip(), "details": details,
                                                                    "reason": reason})
        approval = await self.service.propose(
            principal, app, title=stored["title"], details=stored["details"], route=route, reason=stored["reason"],
            request_id=request_id, placeholders=placeholders)
        return self.view(approval, principal, app)

    async def show_approval(self, principal: Principal, approval_id: str, app: Principal | None = None) -> View:
        return self.view(await self._visible(principal, approval_id), principal, app)

    async def wait_approval(self, principal: Principal, approval_id: str, seconds: float,
                            app: Principal | None = None) -> View:
        """The request once decided or expired, or as it stands after ``seconds`` (capped)."""
        await self._visible(principal, approval_id)
        approval = await self.service.wait(approval_id, min(seconds, self.max_wait_seconds))
        if approval is None:
            raise not_found(approval_id)
        return self.view(approval, principal, app)

    def view(self, approval: Approval, reader: Principal, app: Principal | None = None) -> View:
        """``approval.view()`` with its free text restored, and a tool call's argument values revealed,
        where policy lets ``reader`` see each class."""
        out = approval.view()
        cipher = self.service.cipher
        texts = self._texts
        if approval.texts_sealed is not None:
            mapping = unseal(cipher, approval.texts_sealed, approval.id)
            for key in ("title", "details", "reason"):
                if key in out:
                    out[key] = texts.reveal(out[key], mapping, reader, app)
        if approval.outcome_sealed is not None and "outcome_reason" in out:
            out["outcome_reason"] = texts.reveal(out["outcome_reason"],
                                                 unseal(cipher, approval.outcome_sealed, approval.id), reader, app)
        if approval.kind == "tool_call" and approval.arguments_sealed is not None and approval.tool is not None:
            revealed = texts.reveal_arguments(self.service.arguments_of(approval), approval.tool, reader, app)
            if revealed is not None:
                # An argument an approver changed keeps its marker: the votes say who changed it.
                for name, shown_value in (approval.arguments_view or {}).items():
                    if shown_value == EDITED:
                        revealed[name] = EDITED
                out["arguments"] = revealed
        for vote, shown in zip(approval.votes, out["votes"], strict=True):
            if vote.reason_sealed is not None:
                shown["reason"] = texts.reveal(vote.reason, unseal(cipher, vote.reason_sealed, approval.id),
                                               reader, app)
        return out

    async def list_approvals(self, principal: Principal, *, state: str | None = None, everything: bool = False,
                             limit: int = 100, app: Principal | None = None) -> list[View]:
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
        return [self.view(a, principal, app) for a in found]

    async def decide_approval(self, principal: Principal, app: Principal | None, approval_id: str,
                              decision: Literal["approve", "reject"], reason: str,
                              arguments: dict[str, Any] | None) -> View:
        """One approver's vote (with edits when approving a tool call).

        Refusals are the service's: another tenant's request is not found, someone of this tenant outside
        the approvers is told who may decide (request ids are random, so this reveals nothing guessable)."""
        stored, placeholders = self._texts.protect(principal, app, {"reason": reason})
        approval = await self.service.decide(approval_id, principal, decision, stored["reason"],
                                             arguments or None, app=app, placeholders=placeholders)
        return self.view(approval, principal, app)

    async def _visible(self, principal: Principal, approval_id: str) -> Approval:
        return await self.service.get_for(approval_id, principal, admin=is_admin(principal))
