"""Use cases: the list the signed-in person may read, and one page per use case (owner, state, the
launch gate's checklist with its evidence, budgets spent against their limits, latency and error rates,
cost per day against the manifest's estimate, feedback).

Everything comes from ``GET /v1/usecases`` and ``GET /v1/usecases/{name}`` as this person: Cedar's
``read_use_case`` decides which use cases they see, ``read_usage`` whose calls the figures count.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.console.chart import daily_bars, usd
from interlock.console.ui import NavItem, Ui

PERIODS = (7, 14, 30, 90)


def days_of(request: Request) -> str:
    """The period asked for, passed to the API as it is (the API says what is wrong with it)."""
    return request.query_params.get("days") or "14"


class UseCasesPage:
    nav = NavItem("/console/usecases", "Use cases")

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [
            Route("/usecases", self.listing, methods=["GET"]),
            Route("/usecases/{name}", self.show, methods=["GET"]),
        ]

    async def listing(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        answer = await ui.api(session, "GET", "/v1/usecases", query={"days": days_of(request)})
        if not answer.ok:
            return ui.refused(request, session, answer)
        return ui.render(request, "usecases.html", session, use_cases=answer.body["data"], days=answer.body["days"],
                         periods=PERIODS, usd=usd)

    async def show(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        name: str = request.path_params["name"]
        answer = await ui.api(session, "GET", f"/v1/usecases/{name}", query={"days": days_of(request)})
        if not answer.ok:
            return ui.refused(request, session, answer)
        uc = answer.body
        chart = daily_bars([(d["day"], d["cost_usd"]) for d in uc["cost"]["days"]], uc["cost"]["estimate_per_day_usd"])
        return ui.render(request, "usecase.html", session, uc=uc, chart=chart, periods=PERIODS, usd=usd)
