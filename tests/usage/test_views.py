"""``interlock usage --view``: adoption, quality, cost, failures and sources, from records a real gateway
wrote (calls with use cases and retrieval, feedback, evaluation runs), and the views' rules on their own."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import pytest

from interlock.settings import load_settings
from interlock.store import open_store
from interlock.usage import views
from interlock.usecases.gate import eval_record
from interlock.usecases.lifecycle import append_signed
from support.gateways import Gateway, GatewayFactory, KeySpec
from usecases.usecases_support import write_manifest

DAY = 86400.0
T0 = 1_780_000_000.0  # a fixed instant, so the day buckets are known


def call(rid: str, use_case: str, principal: str, at: float = T0, **extra: Any) -> dict[str, Any]:
    return {"request_id": rid, "endpoint": "chat.completions", "time": at, "use_case": use_case,
            "principal": principal, "status": 200, **extra}


def feedback(rid: str, about: str, at: float = T0, use_case: str = "support", **facts: Any) -> dict[str, Any]:
    return {"request_id": rid, "endpoint": "feedback", "time": at, "use_case": use_case,
            "feedback": {"request_id": about, **facts}}


def passages(*docs: tuple[str, str]) -> dict[str, Any]:
    return {"retrieval": {"sources": sorted({s for s, _ in docs}),
                          "passages": [{"source": s, "document_id": d} for s, d in docs]}}


def test_adoption_counts_calls_and_distinct_users_per_use_case_per_day() -> None:
    records = [call("a", "support", "ann"), call("b", "support", "ann"), call("c", "support", "bob"),
               call("d", "sales", "cat"), call("e", "support", "ann", at=T0 + DAY),
               feedback("f", "a"), {"endpoint": "evals", "event": "eval.run", "time": T0, "use_case": "support"}]
    rows = views.adoption(records)
    day0 = dt.datetime.fromtimestamp(T0, dt.UTC).date().isoformat()
    day1 = dt.datetime.fromtimestamp(T0 + DAY, dt.UTC).date().isoformat()
    assert rows == [{"day": day0, "use_case": "sales", "calls": 1, "users": 1},
                    {"day": day0, "use_case": "support", "calls": 3, "users": 2},
                    {"day": day1, "use_case": "support", "calls": 1, "users": 1}]


def test_quality_scores_feedback_and_evaluation_runs() -> None:
    records = [feedback("f1", "a", score=1), feedback("f2", "b", score=-1), feedback("f3", "c", label="Wrong"),
               feedback("f4", "d", score=0.5, use_case="sales"),
               {"endpoint": "evals", "event": "eval.run", "time": T0, "use_case": "support", "passed": True,
                "pass_rate": 1.0},
               {"endpoint": "evals", "event": "eval.run", "time": T0, "use_case": "support", "passed": False,
                "pass_rate": 0.5}]
    rows = {r["use_case"]: r for r in views.quality(records)}
    assert rows["support"]["feedback"] == 3
    assert rows["support"]["mean_score"] == 0  # (1 - 1) / 2: the label-only feedback has no score
    assert rows["support"]["negative_share"] == 0.6667
    assert (rows["support"]["eval_runs"], rows["support"]["evals_passed"]) == (2, 1)
    assert rows["support"]["mean_pass_rate"] == 0.75
    assert rows["sales"]["negative_share"] == 0
    # A higher threshold makes the 0.5 negative too.
    assert {r["use_case"]: r for r in views.quality(records, below=0.75)}["sales"]["negative_share"] == 1


def test_cost_is_flagged_against_the_prorated_estimate_and_the_cost_per_task() -> None:
    spent = {"nano_usd": 2_000_000_000}  # $2 a call
    records = [call("a", "support", "ann", cost=spent), call("b", "support", "ann", cost=spent),
               call("c", "sales", "cat", cost={"nano_usd": 10_000_000})]
    expected = {"support": views.Expectation(cost_per_task_usd=1.0, monthly_volume=300),
                "sales": views.Expectation(cost_per_task_usd=0.05, monthly_volume=30),
                "idle": views.Expectation(cost_per_task_usd=0.1, monthly_volume=30)}
    rows = {r["use_case"]: r for r in views.cost(records, expected, DAY)}
    support = rows["support"]
    assert support["cost_usd"] == 4.0
    assert support["cost_per_call_usd"] == 2.0
    assert support["expected_calls"] == 10  # 300 a month, a day of it
    assert support["estimate_usd"] == 10.0
    assert support["over"] == "per_task"
    sales = rows["sales"]
    assert sales["estimate_usd"] == pytest.approx(0.05)
    assert sales["over"] == ""
    # Over the period's estimate although each call is within the cost per task: a tenth of a day.
    assert {r["use_case"]: r for r in views.cost(records, expected, DAY / 10)}["sales"]["over"] == "period"
    assert rows["idle"]["calls"] == 0
    assert rows["idle"]["over"] == ""
    assert views.cost(records, expected, DAY)[0]["use_case"] == "support"  # what is over comes first


def test_failures_group_by_code_policy_tool_and_use_case_with_a_trend() -> None:
    deny = {"refusal_code": "policy_denied", "status": 403,
            "decisions": [{"stage": "policy", "outcome": "allow", "policy_ids": ["base"]},
                          {"stage": "retrieve", "outcome": "near_miss", "policy_ids": ["kb-access"]},
                          {"stage": "tools", "outcome": "deny", "policy_ids": ["no-refunds"]}],
            "tools": [{"tool": "refund", "outcome": "deny"}, {"tool": "lookup", "outcome": "allow"}]}
    now = [call("a", "support", "ann", **deny), call("b", "support", "ann", **deny),
           call("c", "sales", "cat", status=502), call("d", "sales", "cat")]
    before = [call("p", "support", "ann", **deny), call("q", "sales", "cat", refusal_code="budget_exceeded")]
    rows = views.failures(now, before)
    assert rows[0] == {"use_case": "support", "code": "policy_denied", "policy": "no-refunds", "tool": "refund",
                       "count": 2, "previous": 1, "change": 1, "trend": "up"}
    by_code = {r["code"]: r for r in rows}
    assert by_code["status_502"]["trend"] == "new"
    assert (by_code["budget_exceeded"]["count"], by_code["budget_exceeded"]["trend"]) == (0, "gone")
    assert len(rows) == 3  # the call that succeeded is no failure


def test_sources_join_feedback_on_the_call_it_is_about() -> None:
    # Feedback records have request ids of their own; here each one's own id is also a call's id, so a
    # join on the wrong key blames the other source.
    records = [call("c1", "support", "ann", **passages(("faq", "refunds"))),
               call("c2", "support", "ann", **passages(("faq", "refunds"), ("wiki", "shipping"))),
               call("c3", "support", "ann", **passages(("wiki", "shipping"))),
               call("c4", "support", "ann", **passages(("wiki", "returns"))),
               call("c5", "support", "ann", refusal_code="output_blocked", status=400,
                    tools=[{"tool": "lookup", "outcome": "allow"}], **passages(("wiki", "returns"))),
               feedback("c1", "c3", score=-1), feedback("c2", "c4", label="wrong"),
               feedback("c3", "c1", score=1)]
    rows = views.sources(records)
    ranked = [(r["kind"], r["name"], r["bad_calls"]) for r in rows]
    assert ranked == [("source", "wiki", 3), ("source", "faq", 0),
                      ("document", "wiki/returns", 2), ("document", "wiki/shipping", 1),
                      ("document", "faq/refunds", 0), ("tool", "lookup", 1)]
    returns = next(r for r in rows if r["name"] == "wiki/returns")
    assert (returns["negative_feedback"], returns["failed"], returns["calls"], returns["bad_share"]) == (1, 1, 2, 1)
    # A threshold above 1 makes the positive feedback on c1 negative too.
    assert next(r for r in views.sources(records, below=2) if r["name"] == "faq")["bad_calls"] == 1


# ---- the command over a real gateway


MANIFEST: dict[str, Any] = {"purpose": "Answer questions.", "owner": {"name": "Dana", "email": "d@example.com"},
                            "state": "pilot"}


@pytest.fixture
def gw(gateway_factory: GatewayFactory, tmp_path: Any) -> Gateway:
    index = tmp_path / "knowledge.db"

    def adjust(tree: dict[str, Any]) -> None:
        for model in tree["models"]:
            model["price"] = {"input": 1.0, "output": 2.0}
        for alias in ("faq-bot", "wiki-bot"):
            tree["models"].append({"alias": alias, "provider": "upstream", "upstream_model": "mock",
                                   "price": {"input": 1.0, "output": 2.0}})
        tree["use_cases"] = {"dir": "usecases", "required": True}
        tree["knowledge"] = {"index_url": f"sqlite:///{index}",
                             "sources": [{"name": "faq", "owner": "kb", "default_access": {"tenant_wide": True}},
                                         {"name": "wiki", "owner": "kb", "default_access": {"tenant_wide": True}}],
                             "models": {"faq-bot": ["faq"], "wiki-bot": ["wiki"]}}

    gw = gateway_factory("sqlite", served=False, start=False, adjust=adjust,
                         keys=[KeySpec("ann"), KeySpec("bob"), KeySpec("cat"), KeySpec("admin", roles=("admin",))])
    write_manifest(gw.directory / "usecases", {"name": "support", **MANIFEST, "users": {"principals": ["ann", "bob"]},
                                               "expectations": {"cost_per_task_usd": 1e-6, "monthly_volume": 1000}})
    write_manifest(gw.directory / "usecases", {"name": "sales", **MANIFEST, "users": {"principals": ["cat"]},
                                               "expectations": {"cost_per_task_usd": 1.0, "monthly_volume": 1000}})
    # In production without a passed launch gate: the policy refuses its calls.
    write_manifest(gw.directory / "usecases", {"name": "launch", **MANIFEST, "state": "production",
                                               "users": {"principals": ["cat"]}})
    gw.start()
    return gw


def chat(gw: Gateway, key: str, use_case: str, model: str = "mock", text: str = "hi") -> str:
    r = gw.request("POST", "/v1/chat/completions",
                   headers={"authorization": f"Bearer {gw.keys[key].key}", "x-interlock-use-case": use_case},
                   json={"model": model, "messages": [{"role": "user", "content": text}],
                         "mock": {"usage": {"prompt_tokens": 100, "completion_tokens": 50}}})
    assert r.status_code == 200, r.text
    return str(r.headers["x-request-id"])


def rate(gw: Gateway, key: str, about: str, **facts: Any) -> None:
    r = gw.request("POST", "/v1/feedback", headers={"authorization": f"Bearer {gw.keys[key].key}"},
                   json={"request_id": about, **facts})
    assert r.status_code == 200, r.text


def view(gw: Gateway, name: str, *args: str) -> list[dict[str, Any]]:
    out = json.loads(gw.cli(["usage"], "--view", name, "--format", "json", *args).stdout)
    assert out["view"] == name
    return out["rows"]  # type: ignore[no-any-return]


def test_adoption_quality_and_cost_from_the_gateway(gw: Gateway) -> None:
    try:
        ids = [chat(gw, "ann", "support"), chat(gw, "ann", "support"), chat(gw, "bob", "support"),
               chat(gw, "cat", "sales")]
        rate(gw, "ann", ids[0], score=1)
        rate(gw, "bob", ids[2], score=-1)
        rate(gw, "cat", ids[3], label="wrong")

        async def record_eval() -> None:
            settings = load_settings(gw.config)
            store = open_store(settings.store)
            await store.open()
            try:
                facts = {"suite": "s.yaml", "suite_digest": "x", "passed": False, "pass_rate": 0.5, "leaks": 0,
                         "cases": 2, "failed": 1}
                await append_signed(store, settings, eval_record("support", "ci", facts))
            finally:
                await store.close()

        asyncio.run(record_eval())
        today = dt.datetime.now(dt.UTC).date().isoformat()
        adoption = view(gw, "adoption", "--since", "1h")
        assert {(r["use_case"], r["calls"], r["users"]) for r in adoption} == {("support", 3, 2), ("sales", 1, 1)}
        assert {r["day"] for r in adoption} <= {today, (dt.date.fromisoformat(today) - dt.timedelta(1)).isoformat()}

        quality = {r["use_case"]: r for r in view(gw, "quality", "--since", "1h")}
        assert (quality["support"]["feedback"], quality["support"]["mean_score"]) == (2, 0)
        assert quality["support"]["negative_share"] == 0.5
        assert (quality["support"]["eval_runs"], quality["support"]["evals_passed"]) == (1, 0)
        assert quality["sales"]["negative_share"] == 1  # the label says so

        cost = {r["use_case"]: r for r in view(gw, "cost", "--since", "1h")}
        per_call = 100e-6 + 50 * 2e-6
        assert cost["support"]["cost_usd"] == pytest.approx(3 * per_call)
        assert cost["support"]["expected_calls"] == pytest.approx(1000 / 720, abs=0.01)  # an hour of a month
        assert cost["support"]["over"] == "per_task+period"
        assert cost["sales"]["over"] == ""
        csv_lines = gw.cli(["usage"], "--view", "cost", "--since", "1h", "--format", "csv").stdout.splitlines()
        assert csv_lines[0].startswith("use_case,calls,cost_usd,")
        table = gw.cli(["usage"], "--since", "1h").stdout.splitlines()
        assert table[0].split()[:3] == ["model", "calls", "users"]  # the summary is unchanged
    finally:
        gw.stop()


def test_failures_and_sources_from_the_gateway(gw: Gateway) -> None:
    try:
        with gw.http() as http:
            admin = {"authorization": f"Bearer {gw.keys['admin'].key}"}
            for source, doc, text in (("faq", "refunds", "Refunds are paid within ten days of a return."),
                                      ("wiki", "shipping", "Shipping takes three days by courier.")):
                r = http.post(f"/admin/knowledge/{source}/documents", headers=admin,
                              json={"id": doc, "title": doc, "text": text})
                assert r.status_code == 201, r.text
        faq = [chat(gw, "ann", "support", "faq-bot", "How are refunds paid?") for _ in range(3)]
        wiki = chat(gw, "ann", "support", "wiki-bot", "How long does shipping take?")
        for rid in faq:
            rate(gw, "ann", rid, score=1)
        rate(gw, "ann", wiki, score=-1)
        # A use case in production without a passed launch gate: the policy refuses the call.
        r = gw.request("POST", "/v1/chat/completions",
                       headers={"authorization": f"Bearer {gw.keys['cat'].key}", "x-interlock-use-case": "launch"},
                       json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 403

        rows = view(gw, "sources", "--since", "1h")
        ranked = [(r["kind"], r["name"], r["bad_calls"], r["calls"]) for r in rows]
        # The negative feedback (given by the same person as the positive) is about the wiki call only.
        assert ranked[:2] == [("source", "wiki", 1, 1), ("source", "faq", 0, 3)]
        assert ("document", "wiki/shipping", 1, 1) in ranked
        table = gw.cli(["usage"], "--view", "sources", "--since", "1h").stdout.splitlines()
        assert table[0].split() == ["kind", "name", "bad_calls", "negative_feedback", "failed", "calls", "bad_share"]
        assert table[1].split()[:3] == ["source", "wiki", "1"]

        failures = view(gw, "failures", "--since", "1h")
        assert [(r["use_case"], r["code"], r["policy"]) for r in failures] == \
            [("launch", "policy_denied", "default.use_case.production-needs-gate")]
        assert (failures[0]["count"], failures[0]["previous"], failures[0]["trend"]) == (1, 0, "new")
        # An hour from now, the same failure is in the previous period and gone from this one.
        start = dt.datetime.fromtimestamp(time.time() + 1, dt.UTC).isoformat()
        end = dt.datetime.fromtimestamp(time.time() + 3601, dt.UTC).isoformat()
        later = view(gw, "failures", "--since", start, "--until", end)
        assert [(r["code"], r["count"], r["previous"], r["trend"]) for r in later] == \
            [(failures[0]["code"], 0, 1, "gone")]
    finally:
        gw.stop()
