"""API keys of the administrator's tenant: list, create (the key is shown once), revoke."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.console.pages.policy import names
from interlock.console.ui import NavItem, Ui, redirect


class KeysPage:
    nav = NavItem("/console/keys", "Keys")

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [
            Route("/keys", self.listing, methods=["GET"]),
            Route("/keys", self.create, methods=["POST"]),
            Route("/keys/{key_id}/revoke", self.revoke, methods=["POST"]),
        ]

    async def _page(self, request: Request, status: int = 200, **context: Any) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        keys = await ui.api(session, "GET", "/admin/keys")
        if not keys.ok:
            return ui.refused(request, session, keys)
        context.setdefault("created", None)
        context.setdefault("problem", None)
        revoked = request.query_params.get("revoked")
        context.setdefault("notice", f"Key {revoked} is revoked." if revoked else None)
        return ui.render(request, "keys.html", session, status=status, keys=keys.body["data"], **context)

    async def listing(self, request: Request) -> Response:
        return await self._page(request)

    async def create(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        form = await ui.form(request, session)
        body: dict[str, Any] = {"name": form.get("name", "").strip(), "kind": form.get("kind", "user"),
                                "roles": names(form.get("roles", "")),
                                "groups": names(form.get("groups", ""))}
        principal = form.get("principal_id", "").strip()
        if principal:
            body["principal_id"] = principal
        ttl = form.get("ttl_days", "").strip()
        if ttl:
            try:
                body["ttl_seconds"] = float(ttl) * 86400
            except ValueError:
                return await self._page(request, 400, problem="Days valid must be a number (or blank: no expiry).")
        answer = await ui.api(session, "POST", "/admin/keys", body=body)
        if not answer.ok:
            return await self._page(request, answer.status, problem=answer.error)
        # Shown on this answer only: the gateway keeps its hash, never the key.
        return await self._page(request, 201, created=answer.body)

    async def revoke(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        await ui.form(request, session)
        key_id: str = request.path_params["key_id"]
        answer = await ui.api(session, "POST", f"/admin/keys/{key_id}/revoke")
        if not answer.ok:
            return await self._page(request, answer.status, problem=answer.error)
        return redirect(f"/console/keys?revoked={key_id}")
