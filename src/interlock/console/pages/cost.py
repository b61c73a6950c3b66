"""Cost: spend per day by use case, model or tenant, and each use case against its manifest's estimate.

From ``GET /v1/usage/cost`` as the signed-in person: only the calls whose tenant and use case policy
lets them read (``read_usage``) are counted.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.console.chart import daily_bars, usd
from interlock.console.pages.usecases import PERIODS, days_of
from interlock.console.ui import NavItem, Ui

GROUPINGS = (("use_case", "use case"), ("model", "model"), ("tenant", "tenant"))


class CostPage:
    nav = NavItem("/console/cost", "Cost")

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [Route("/cost", self.show, methods=["GET"])]

    async def show(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        by = request.query_params.get("by") or "use_case"
        answer = await ui.api(session, "GET", "/v1/usage/cost", query={"days": days_of(request), "by": by})
        if not answer.ok:
            return ui.refused(request, session, answer)
        body = answer.body
        totals = [(day, sum(g["days"][i]["cost_usd"] for g in body["data"])) for i, day in enumerate(body["day_list"])]
        return ui.render(request, "cost.html", session, cost=body, chart=daily_bars(totals), periods=PERIODS,
                         groupings=GROUPINGS, usd=usd)
