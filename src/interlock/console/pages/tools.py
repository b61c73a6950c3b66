"""Tools: the registry with each MCP tool's pin, and re-approval of a tool whose definition changed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.console.ui import NavItem, Ui, redirect


class ToolsPage:
    nav = NavItem("/console/tools", "Tools")

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [
            Route("/tools", self.listing, methods=["GET"]),
            Route("/tools/{name}/approve", self.approve, methods=["POST"]),
        ]

    async def _page(self, request: Request, status: int = 200, **context: Any) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        tools = await ui.api(session, "GET", "/admin/tools")
        if not tools.ok:
            return ui.refused(request, session, tools)
        context.setdefault("problem", None)
        approved = request.query_params.get("approved")
        context.setdefault("notice", f"The current definition of {approved} is approved." if approved else None)
        return ui.render(request, "tools.html", session, status=status, tools=tools.body["data"], **context)

    async def listing(self, request: Request) -> Response:
        return await self._page(request)

    async def approve(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        form = await ui.form(request, session)
        name: str = request.path_params["name"]
        digest = form.get("digest", "").strip()
        answer = await ui.api(session, "POST", f"/admin/tools/{name}/approve", body={"digest": digest} if digest else {})
        if not answer.ok:
            return await self._page(request, answer.status, problem=answer.error)
        return redirect(f"/console/tools?approved={name}")
