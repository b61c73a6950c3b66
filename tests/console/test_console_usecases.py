"""The use-case and cost pages over plain HTTP: the figures are the audit log's, and who sees what is
Cedar's to say (``read_use_case``, ``read_usage``), through the API as the signed-in person.

The support agent's calls belong to the support assistant, whose owner is ``olly`` (no role); the
knowledge bot belongs to someone else. Expected figures are computed here from the audit records.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from console_support import Browser, api

from interlock.usage.views import p95
from support.gateways import Gateway

USE_CASE = "support-assistant"


def calls_of(gw: Gateway, use_case: str) -> list[dict[str, Any]]:
    """Today's calls of the use case, from the audit log as an administrator reads it."""
    rows = api(gw, "admin", "GET", "/admin/audit", params={"limit": "1000"}).json()["data"]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return [r for r in rows if r.get("use_case") == use_case and r.get("endpoint") not in ("feedback", "evals")
            and r.get("event") is None
            and dt.datetime.fromtimestamp(r["time"], dt.UTC).date().isoformat() == today]


def chat(gw: Gateway, who: str, text: str) -> str:
    r = api(gw, who, "POST", "/v1/chat/completions", json={"model": "mock", "messages": [{"role": "user",
                                                                                          "content": text}]})
    assert r.status_code == 200, r.text
    return r.headers["x-request-id"]


def test_the_owner_sees_the_use_case_with_the_figures_of_the_audit_log(
        console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    for i in range(3):
        rid = chat(console, "support", f"Where is order {i}?")
    r = api(console, "support", "POST", "/v1/feedback", json={"request_id": rid, "score": -1, "label": "wrong"})
    assert r.status_code == 200, r.text
    console.cli(["gate"], USE_CASE, check=False, env=console.env)

    body = api(console, "olly", "GET", f"/v1/usecases/{USE_CASE}", params={"days": "7"}).json()
    calls = calls_of(console, USE_CASE)
    assert len(calls) >= 3
    spent = sum(r["cost"]["nano_usd"] for r in calls) / 1e9
    assert spent > 0
    assert body["service"]["calls"] == len(calls)
    assert body["cost"]["calls"] == len(calls)
    assert abs(body["cost"]["total_usd"] - spent) < 1e-9
    assert len(body["cost"]["days"]) == 7
    assert abs(body["cost"]["days"][-1]["cost_usd"] - spent) < 1e-9
    # 0.00001 a task, 3000 a month: 0.001 a day.
    assert body["cost"]["estimate_per_day_usd"] == 0.001
    served = [float(r["latency_ms"]) for r in calls if r["outcome"] == "ok"]
    assert body["service"]["p95_latency_ms"] == round(p95(served), 3)
    # The live budget counter holds what the records say was spent today.
    (budget,) = body["budgets"]
    assert (budget["name"], budget["tenant"], budget["usd"]) == ("support-daily", "acme", 5.0)
    assert abs(budget["spent_usd"] - spent) < 1e-9
    gate = body["gate"]["last"]
    assert gate["current"] is True
    assert gate["passed"] is False
    items = {i["item"]: i for i in gate["items"]}
    assert items["owner set"]["passed"] is True
    assert "olly@acme.example" in items["owner set"]["evidence"]
    assert items["evaluations pass"]["evidence"] == "the manifest names no evaluation suites"
    assert body["feedback"]["count"] >= 1
    assert body["feedback"]["negative_share"] > 0

    owner = browsers("olly")
    page = owner.request("GET", f"/console/usecases/{USE_CASE}?days=7")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Olly Owner" in html
    assert "<td>owner set</td><td><span class=\"pass\">pass</span></td>" in html
    assert "the manifest names no evaluation suites" in html
    assert "support-daily" in html
    assert 'aria-label="Share of support-daily spent"' in html
    # One bar per day, today's carrying today's cost, and the estimate drawn as a line.
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert svg.count("<rect") == 7
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert re.search(rf"<title>{today}: \$[0-9.]+ \(cost\)</title>", svg)
    assert 'class="expected"' in svg
    assert "expected $0.001 a day" in svg
    # The list shows the owner their use case and not the other one.
    listing = owner.request("GET", "/console/usecases").text
    assert f"/console/usecases/{USE_CASE}" in listing
    assert "kb-bot" not in listing


def test_who_may_read_a_use_case_and_its_usage_is_policys_to_say(
        console: Gateway, browsers: Callable[[str | None], Browser]) -> None:
    chat(console, "support", "Hello")
    # The owner of one use case is refused another's page, with the reason.
    r = browsers("olly").request("GET", "/console/usecases/kb-bot")
    assert r.status_code == 403
    assert "Policy does not let you read the use case" in r.text
    assert "read_use_case" in r.text
    # A reviewer who neither owns nor administers sees no use case, and no cost.
    finance = browsers("finance")
    assert "Policy lets you read no use case here" in finance.request("GET", "/console/usecases").text
    assert finance.request("GET", f"/console/usecases/{USE_CASE}").status_code == 403
    cost = api(console, "finance", "GET", "/v1/usage/cost").json()
    assert (cost["calls"], cost["data"]) == (0, [])
    assert "No calls you may read in this period" in finance.request("GET", "/console/cost").text
    # An administrator reads every use case, and their own tenant's usage...
    admin = api(console, "admin", "GET", "/v1/usecases").json()["data"]
    assert {u["name"] for u in admin} == {USE_CASE, "kb-bot"}
    assert next(u for u in admin if u["name"] == USE_CASE)["calls"] == len(calls_of(console, USE_CASE))
    # ...and an administrator of a tenant the policies do not know reads nothing at all.
    console.keys["outsider-admin-uc"] = console.create_key("outsider-admin-uc", "admin", tenant="default")
    assert api(console, "outsider-admin-uc", "GET", f"/v1/usecases/{USE_CASE}").status_code == 403
    assert api(console, "outsider-admin-uc", "GET", "/v1/usecases").json()["data"] == []
    assert api(console, "outsider-admin-uc", "GET", "/v1/usage/cost").json()["calls"] == 0
    # Bad input is refused with a clear error.
    r = api(console, "admin", "GET", "/v1/usage/cost", params={"by": "colour"})
    assert r.status_code == 400
    assert "by must be one of use_case, model, tenant" in r.json()["error"]["message"]
    r = api(console, "admin", "GET", f"/v1/usecases/{USE_CASE}", params={"days": "1000"})
    assert r.status_code == 400
    assert api(console, "admin", "GET", "/v1/usecases/nothing-here").status_code == 404


def test_cost_per_day_by_use_case_model_and_tenant(console: Gateway,
                                                   browsers: Callable[[str | None], Browser]) -> None:
    chat(console, "support", "What does shipping cost?")
    chat(console, "admin", "A call of no use case.")
    rows = api(console, "admin", "GET", "/admin/audit", params={"limit": "1000"}).json()["data"]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    calls = [r for r in rows if r.get("endpoint") not in ("feedback", "evals") and r.get("event") is None
             and dt.datetime.fromtimestamp(r["time"], dt.UTC).date().isoformat() == today]

    def expected(by: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in calls:
            key = str(r.get(by) or "-")
            out[key] = out.get(key, 0) + r["cost"]["nano_usd"] / 1e9
        return out

    for by in ("use_case", "model", "tenant"):
        body = api(console, "admin", "GET", "/v1/usage/cost", params={"by": by, "days": "3"}).json()
        got = {g["group"]: g["cost_usd"] for g in body["data"]}
        want = expected(by)
        assert set(got) == set(want), by
        for group, value in want.items():
            assert abs(got[group] - value) < 1e-9, (by, group)
        assert [d["day"] for d in body["data"][0]["days"]] == body["day_list"]
        assert body["day_list"][-1] == today
    body = api(console, "admin", "GET", "/v1/usage/cost").json()
    (estimate,) = [e for e in body["estimates"] if e["use_case"] == USE_CASE]
    # 0.00001 expected a task; the mock's calls cost more, so the use case is over its estimate per task.
    assert estimate["expected_cost_per_task_usd"] == 0.00001
    assert "per_task" in estimate["over"]
    assert "-" in {g["group"] for g in body["data"]}

    page = browsers("admin").request("GET", "/console/cost?by=model&days=7").text
    assert "Cost per day by model" in page
    assert "<td>mock</td>" in page
    assert f'href="/console/usecases/{USE_CASE}?days=7"' in page
    assert "per task" in page
