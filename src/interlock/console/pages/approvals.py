"""My queue: what waits for this reviewer, approve, reject with a reason, edit permitted arguments.

The queue is ``GET /admin/approvals`` as the reviewer: the approval actions list only what this person
may decide, with free text restored where policy lets them see it. The list refreshes itself.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.console.ui import NavItem, Ui, redirect


def shown(value: Any) -> str:
    """An argument as the reviewer edits it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def edited(raw: str, original: Any) -> Any:
    """The edited value, of the original's type: text stays text, anything else must be JSON."""
    if isinstance(original, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError("must be JSON, as shown") from None


class ApprovalsPage:
    nav = NavItem("/console/approvals", "Approvals")

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [
            Route("/approvals", self.queue, methods=["GET"]),
            Route("/approvals/queue", self.fragment, methods=["GET"]),
            Route("/approvals/{approval_id}/decide", self.decide, methods=["POST"]),
        ]

    async def _queue(self, request: Request, template: str, **context: Any) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        answer = await ui.api(session, "GET", "/admin/approvals")
        if not answer.ok:
            return ui.refused(request, session, answer)
        items = answer.body["data"]
        return ui.render(request, template, session, items=items, shown=shown, **context)

    async def queue(self, request: Request) -> Response:
        decided, state = request.query_params.get("decided"), request.query_params.get("state")
        notice = f"Your decision on {decided} is recorded: the request is {state}." if decided and state else None
        return await self._queue(request, "approvals.html", notice=notice, problem=None)

    async def fragment(self, request: Request) -> Response:
        """The queue alone, for the page's script to swap in."""
        return await self._queue(request, "approvals_queue.html")

    async def decide(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        form = await ui.form(request, session)
        approval_id: str = request.path_params["approval_id"]
        decision = form.get("decision", "")
        reason = form.get("reason", "").strip()
        if decision not in ("approve", "reject"):
            return await self._queue(request, "approvals.html", notice=None, problem="Choose approve or reject.")
        if decision == "reject" and not reason:
            return await self._queue(request, "approvals.html", notice=None,
                                     problem="Give a reason when you reject: the requester reads it.")
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        if decision == "approve":
            current = await ui.api(session, "GET", f"/v1/approvals/{approval_id}")
            if not current.ok:
                return ui.refused(request, session, current)
            original = current.body.get("arguments") or {}
            changes: dict[str, Any] = {}
            for name in current.body.get("editable_arguments") or []:
                raw = form.get(f"arg.{name}")
                if isinstance(raw, str) and raw != shown(original.get(name)):
                    try:
                        changes[name] = edited(raw, original.get(name))
                    except ValueError as exc:
                        return await self._queue(request, "approvals.html", notice=None,
                                                 problem=f"Argument {name} {exc}.")
            if changes:
                body["arguments"] = changes
        answer = await ui.api(session, "POST", f"/admin/approvals/{approval_id}/decide", body=body)
        if not answer.ok:
            return await self._queue(request, "approvals.html", notice=None, problem=answer.error)
        state = answer.body.get("state")
        return redirect(f"/console/approvals?decided={approval_id}&state={state}")
