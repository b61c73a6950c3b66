"""Use cases and their usage over HTTP: what the console's use-case and cost pages show.

- ``GET /v1/usecases``: the use cases the caller may read (Cedar ``read_use_case``), with their calls
  and cost over the period.
- ``GET /v1/usecases/{name}``: one use case: owner, state, the launch gate's last result and its
  evidence, the budgets that bound it (spent against limit, from the live counters), p95 latency and
  error rates, cost per day against the manifest's estimate, and feedback.
- ``GET /v1/usage/cost``: cost per day by use case, model or tenant, and each use case's cost against its
  manifest's estimate.

Every figure counts only the calls whose tenant and use case policy lets the caller read
(``read_usage``, asked once per tenant and use case); the rest are left out, never shown as zero
for someone else. ``?days=`` sets the period (whole UTC days back from now, 1-92; 14 by default).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import json_response
from interlock.api.auth import identify
from interlock.api.errors import request_id_of
from interlock.engine import Engine
from interlock.errors import Forbidden, InvalidRequest, NotFound
from interlock.identity.principal import Principal
from interlock.policy.entities import NO_USE_CASE, UseCaseAccess
from interlock.store.base import RecordQuery
from interlock.usage import views
from interlock.usage.limits import describe, window_of
from interlock.usage.reconcile import records_since
from interlock.usage.report import FEEDBACK_ENDPOINT
from interlock.usecases.catalog import USE_CASE_ENDPOINT
from interlock.usecases.manifest import UseCase

DEFAULT_DAYS = 14
MAX_DAYS = 92
GATE_EVENT = "use_case.gate"


def access_of(uc: UseCase) -> UseCaseAccess:
    return UseCaseAccess(uc.name, uc.state, uc.owners)


class Readable:
    """Which (tenant, use case) pairs of calls one caller may read, asked of Cedar once per pair."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self._engine = engine
        self._principal = principal
        catalog = engine.use_cases
        self._access = {name: access_of(uc) for name, uc in (catalog.use_cases.items() if catalog else ())}
        self._known: dict[tuple[str, str], bool] = {}

    def ask(self, pairs: list[tuple[str, str]]) -> None:
        wanted = [p for p in dict.fromkeys(pairs) if p not in self._known]
        if not wanted:
            return
        decisions = self._engine.policy.engine.usage(
            self._principal, [(t, self._access.get(u, NO_USE_CASE if u == "-" else UseCaseAccess(u, "unknown")))
                              for t, u in wanted])
        for pair, decision in zip(wanted, decisions, strict=True):
            self._known[pair] = decision.allowed

    def may(self, tenant: str, use_case: str) -> bool:
        return self._known.get((tenant, use_case), False)

    def filter(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def pair(r: dict[str, Any]) -> tuple[str, str]:
            return str(r.get("tenant") or ""), str(r.get("use_case") or "-")

        self.ask([pair(r) for r in records])
        return [r for r in records if self.may(*pair(r))]


def period(request: Request) -> tuple[float, float, int]:
    raw = request.query_params.get("days") or str(DEFAULT_DAYS)
    try:
        days = int(raw)
    except ValueError:
        raise InvalidRequest(f"days must be a whole number from 1 to {MAX_DAYS}.", param="days") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be a whole number from 1 to {MAX_DAYS}.", param="days")
    now = time.time()
    # Whole UTC days: the period starts at midnight, days - 1 days before today.
    start = float(window_of("day", now)[1]) - (days - 1) * 86400
    return start, now, days


class UseCasesApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [
            Route("/v1/usecases", self.listing, methods=["GET"]),
            Route("/v1/usecases/{name}", self.show, methods=["GET"]),
            Route("/v1/usage/cost", self.cost, methods=["GET"]),
        ]

    def _catalog(self) -> dict[str, UseCase]:
        catalog = self._engine.use_cases
        return catalog.use_cases if catalog is not None else {}

    async def _records(self, since: float, use_case: str | None = None) -> list[dict[str, Any]]:
        return [r async for r in records_since(self._engine.store, since, use_case)
                if use_case is None or r.get("use_case") == use_case]

    async def listing(self, request: Request) -> Response:
        me = (await identify(self._engine.authenticator, request)).principal
        since, _, days = period(request)
        use_cases = list(self._catalog().values())
        decisions = self._engine.policy.engine.use_cases(me, [access_of(uc) for uc in use_cases])
        visible = [uc for uc, d in zip(use_cases, decisions, strict=True) if d.allowed]
        readable = Readable(self._engine, me)
        records = readable.filter([r for r in await self._records(since) if views.is_call(r)
                                   and r.get("use_case") in {uc.name for uc in visible}])
        calls: Counter[str] = Counter(str(r["use_case"]) for r in records)
        nano: Counter[str] = Counter()
        for r in records:
            cost = r.get("cost")
            if isinstance(cost, dict):
                nano[str(r["use_case"])] += int(cost.get("nano_usd") or 0)
        gate = self._engine.use_cases.gate_passed if self._engine.use_cases is not None else {}
        data = [{"name": uc.name, "purpose": uc.doc.get("purpose"), "state": uc.state, "owner": uc.doc.get("owner"),
                 "gate_passed": gate.get(uc.name, False), "calls": calls[uc.name],
                 "cost_usd": round(nano[uc.name] / 1e9, 9)} for uc in visible]
        return json_response(200, {"object": "list", "days": days, "since": since, "data": data},
                             request_id_of(request))

    async def show(self, request: Request) -> Response:
        engine = self._engine
        me = (await identify(engine.authenticator, request)).principal
        name: str = request.path_params["name"]
        uc = self._catalog().get(name)
        if uc is None:
            raise NotFound(f"There is no use case {name!r} here.")
        (decision,) = engine.policy.engine.use_cases(me, [access_of(uc)])
        if not decision.allowed:
            raise Forbidden(f"Policy does not let you read the use case {name!r} (read_use_case): ask its owner "
                            f"({(uc.doc.get('owner') or {}).get('email', 'unknown')}) or an administrator.")
        since, now, days = period(request)
        readable = Readable(engine, me)
        tenants = sorted({me.tenant, *engine.policy.engine.config.tenants})
        readable.ask([(t, uc.name) for t in tenants])
        records = readable.filter(await self._records(since, uc.name))
        calls = [r for r in records if views.is_call(r)]
        day_list = views.days_between(since, now)
        (per_day,) = views.cost_per_day(calls, "use_case", day_list) or [
            {"group": uc.name, "calls": 0, "cost_usd": 0.0, "days": [{"day": d, "calls": 0, "cost_usd": 0.0}
                                                                     for d in day_list]}]
        expectation = views.expectations_of({uc.name: uc}).get(uc.name, views.Expectation())
        per_day_estimate = (expectation.cost_per_task_usd * expectation.monthly_volume / views.MONTH_DAYS
                            if expectation.cost_per_task_usd is not None and expectation.monthly_volume is not None
                            else None)
        feedback = views.quality(records)
        body = {
            "object": "use_case", "name": uc.name, "purpose": uc.doc.get("purpose"), "state": uc.state,
            "owner": uc.doc.get("owner"), "escalation": uc.doc.get("escalation") or [],
            "lifecycle": uc.lifecycle, "models": list(uc.models), "tools": list(uc.tools),
            "slos": uc.doc.get("slos") or {}, "expectations": uc.doc.get("expectations") or {},
            "days": days, "since": since,
            "tenants": [t for t in tenants if readable.may(t, uc.name)],
            "gate": await self._gate(uc),
            "budgets": await self._budgets(uc, [t for t in tenants if readable.may(t, uc.name)], now),
            "service": views.service(calls),
            "cost": {"total_usd": per_day["cost_usd"], "calls": per_day["calls"], "days": per_day["days"],
                     "estimate_per_day_usd": None if per_day_estimate is None else round(per_day_estimate, 9)},
            "feedback": {"days": feedback, **_feedback_totals(records)},
        }
        return json_response(200, body, request_id_of(request))

    async def _gate(self, uc: UseCase) -> dict[str, Any]:
        """The launch gate's last recorded result, whether it covers the manifest as it stands, and
        whether the gateway found it vouching for production when it started."""
        rows = await self._engine.store.query_records(RecordQuery(event=GATE_EVENT, use_case=uc.name, limit=20))
        found = next((r for _, r in rows if r.get("endpoint") == USE_CASE_ENDPOINT and r.get("event") == GATE_EVENT
                      and r.get("use_case") == uc.name), None)
        catalog = self._engine.use_cases
        out: dict[str, Any] = {"vouches": bool(catalog and catalog.gate_passed.get(uc.name)), "last": None}
        if found is not None:
            out["last"] = {"request_id": found.get("request_id"), "time": found.get("time"),
                           "passed": found.get("passed"), "items": found.get("items") or [],
                           "by": found.get("principal"), "current": found.get("manifest_digest") == uc.digest}
        return out

    async def _budgets(self, uc: UseCase, tenants: list[str], now: float) -> list[dict[str, Any]]:
        """The budgets that count this use case's calls, for each tenant readable: the live counter
        against its limit. A counter store that cannot be read is said so, per budget."""
        limits = self._engine.limits
        if limits is None:
            return []
        rules = [b for b in self._engine.settings.usage.budgets if b.scope == "use_case" and b.match in ("*", uc.name)]
        out: list[dict[str, Any]] = []
        for rule in rules:
            window_id, start, end = window_of(rule.window, now)
            for tenant in tenants:
                entry: dict[str, Any] = {"name": rule.name, "tenant": tenant, **describe(rule),
                                         "window_start": start, "window_end": end,
                                         "named_in_manifest": rule.name in uc.budgets}
                try:
                    ((nano, tokens),) = await limits.store.read((limits.budget_key(tenant, "use_case", uc.name,
                                                                                   window_id),))
                except Exception as exc:  # a page of figures still shows the rest
                    entry["unavailable"] = f"{type(exc).__name__}: {exc}"
                else:
                    entry["spent_usd"] = round(nano / 1e9, 9)
                    entry["spent_tokens"] = tokens
                out.append(entry)
        return out

    async def cost(self, request: Request) -> Response:
        engine = self._engine
        me = (await identify(engine.authenticator, request)).principal
        since, now, days = period(request)
        by = request.query_params.get("by") or "use_case"
        if by not in views.GROUPINGS:
            raise InvalidRequest(f"by must be one of {', '.join(views.GROUPINGS)}.", param="by")
        readable = Readable(engine, me)
        records = readable.filter([r for r in await self._records(since) if views.is_call(r)])
        day_list = views.days_between(since, now)
        rows = views.cost_per_day(records, by, day_list)
        # Each use case's estimate, for those whose calls the caller may read in some tenant.
        seen = {str(r.get("use_case") or "-") for r in records}
        catalog = self._catalog()
        estimates = [row for row in views.cost(records, views.expectations_of(
            {n: uc for n, uc in catalog.items() if n in seen}), now - since)]
        return json_response(200, {"object": "cost", "by": by, "days": days, "since": since, "day_list": day_list,
                                   "total_usd": round(sum(r["cost_usd"] for r in rows), 9),
                                   "calls": sum(r["calls"] for r in rows), "data": rows, "estimates": estimates},
                             request_id_of(request))


def _feedback_totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    scores: list[float] = []
    negative = count = 0
    for r in records:
        if r.get("endpoint") != FEEDBACK_ENDPOINT:
            continue
        facts = r.get("feedback") or {}
        count += 1
        score = facts.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            scores.append(float(score))
        negative += views.negative(facts, 0.0)
    return {"count": count, "mean_score": round(sum(scores) / len(scores), 4) if scores else None,
            "negative_share": round(negative / count, 4) if count else None}
