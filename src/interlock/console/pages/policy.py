"""Policy: the version in force and its source, where the shadow set differs, and "explain".

Explain is ``POST /admin/policy/explain``: the engine runs the request through the real stages up to
where it would leave for the model, for a principal of the administrator's tenant, and says what
would happen and which policies decided it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.console.ui import NavItem, Ui

EXAMPLE_REQUEST = json.dumps({"model": "gpt-4o-mini", "messages": [
    {"role": "user", "content": "Please e-mail jane.doe@example.com the figures."}]}, indent=2)
# Recent records read to find those where the shadow set decided otherwise.
SHADOW_WINDOW = 500


def names(raw: str) -> list[str]:
    return [n.strip() for n in raw.replace(",", " ").split() if n.strip()]


class PolicyPage:
    nav = NavItem("/console/policy", "Policy")

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [
            Route("/policy", self.show, methods=["GET"]),
            Route("/policy/explain", self.explain, methods=["POST"]),
        ]

    async def _page(self, request: Request, **context: Any) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        policy = await ui.api(session, "GET", "/admin/policy", query={"source": "1"})
        if not policy.ok:
            return ui.refused(request, session, policy)
        differences: list[dict[str, Any]] = []
        if policy.body.get("shadow"):
            recent = await ui.api(session, "GET", "/admin/audit", query={"limit": str(SHADOW_WINDOW)})
            if not recent.ok:
                return ui.refused(request, session, recent)
            differences = [r for r in recent.body["data"] if r.get("shadow_differences")]
        context.setdefault("explained", None)
        context.setdefault("problem", None)
        context.setdefault("form", {"principal": session.principal, "kind": "user", "roles": "", "groups": "",
                                    "use_case": "", "request": EXAMPLE_REQUEST})
        return ui.render(request, "policy.html", session, policy=policy.body, differences=differences,
                         window=SHADOW_WINDOW, **context)

    async def show(self, request: Request) -> Response:
        return await self._page(request)

    async def explain(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        form = await ui.form(request, session)
        fields = {k: form.get(k, "") for k in ("principal", "kind", "roles", "groups", "use_case", "request")}
        try:
            chat = json.loads(fields["request"])
        except ValueError as exc:
            return await self._page(request, form=fields, problem=f"The request is not JSON: {exc}.")
        if not isinstance(chat, dict):
            return await self._page(request, form=fields, problem="The request must be a JSON object (a chat request).")
        body: dict[str, Any] = {"principal": {"id": fields["principal"].strip(), "kind": fields["kind"],
                                              "roles": names(fields["roles"]), "groups": names(fields["groups"])},
                                "request": chat}
        if fields["use_case"].strip():
            body["use_case"] = fields["use_case"].strip()
        answer = await ui.api(session, "POST", "/admin/policy/explain", body=body)
        if not answer.ok:
            return await self._page(request, form=fields, problem=answer.error)
        return await self._page(request, form=fields, explained=answer.body,
                                explained_json=json.dumps(answer.body, indent=2, sort_keys=True))
