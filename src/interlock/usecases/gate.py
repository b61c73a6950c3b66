"""The launch gate: a checklist over a use case, each item pass or fail with the evidence for it.

Every item reads what the deployment actually has (the policies loaded and tested, the approval route
and who holds keys to staff it, the audit log verified against its signed checkpoints, the records of
the pilot) rather than what the manifest claims. Budgets and knowledge sources are read through
``Deployment``, the seam to the settings sections that hold them (``budgets:``, ``knowledge:``); a
deployment without those sections fails those items with "not configured".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.audit.log import AuditLog
from interlock.identity.principal import Principal
from interlock.ids import new_request_id
from interlock.policy.decision import UseCaseFacts
from interlock.policy.engine import PolicyEngine
from interlock.policy.setup import load_policies
from interlock.policy.testing import run_policy_tests
from interlock.settings import ConfigError, Settings
from interlock.store import RecordQuery, Store
from interlock.usage.views import is_call, p95
from interlock.usecases.catalog import USE_CASE_ENDPOINT
from interlock.usecases.manifest import UseCase

# Evaluation runs are recorded with this endpoint and event (``interlock eval run``).
EVAL_ENDPOINT = "evals"
EVAL_EVENT = "eval.run"
# The most call records the SLO item reads for one use case (newest first).
_MAX_RECORDS = 200_000
# Where a knowledge source states who may read it (``default_access``, the rule of its documents that
# declare none), and what in that rule names a reader. A rule naming nobody lets nobody read.
ACCESS_RULE_FIELDS = ("default_access", "access")
READER_FIELDS = ("principals", "groups", "roles", "tenant_wide")


def has_access_rules(source: Any) -> bool:
    if not isinstance(source, dict):
        return False
    for name in ACCESS_RULE_FIELDS:
        rule = source.get(name)
        if isinstance(rule, dict) and any(rule.get(f) for f in READER_FIELDS):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Deployment:
    """What the gate reads besides the manifest: the settings, and the budgets and knowledge sources
    configured, by name (None: that section is not configured)."""

    settings: Settings
    budgets: dict[str, Any] | None = None
    knowledge_sources: dict[str, Any] | None = None


def _by_name(section: Any) -> dict[str, Any]:
    """A section given as a mapping of name to entry, or a list of entries with a ``name``."""
    if hasattr(section, "model_dump"):
        section = section.model_dump()
    if isinstance(section, dict) and isinstance(section.get("sources"), list | tuple):
        section = section["sources"]
    if isinstance(section, dict):
        return {str(k): v for k, v in section.items()}
    out: dict[str, Any] = {}
    for entry in section or ():
        doc = entry.model_dump() if hasattr(entry, "model_dump") else entry
        if isinstance(doc, dict) and "name" in doc:
            out[str(doc["name"])] = doc
    return out


def deployment_of(settings: Settings) -> Deployment:
    """The budgets (``usage.budgets``, by name) and knowledge sources (``knowledge.sources``) configured;
    None for a section that declares none."""
    budgets = {b.name: b.model_dump() for b in settings.usage.budgets if b.name is not None}
    sources = _by_name(settings.knowledge.sources)
    return Deployment(settings, budgets or None, sources or None)


@dataclass(frozen=True, slots=True)
class GateItem:
    name: str
    passed: bool
    evidence: str

    def as_record(self) -> dict[str, Any]:
        return {"item": self.name, "passed": self.passed, "evidence": self.evidence}


@dataclass(slots=True)
class GateResult:
    use_case: str
    digest: str
    items: list[GateItem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(i.passed for i in self.items)

    @property
    def failing(self) -> list[GateItem]:
        return [i for i in self.items if not i.passed]


async def run_gate(store: Store, deployment: Deployment, uc: UseCase, *, now: float | None = None) -> GateResult:
    now = time.time() if now is None else now
    result = GateResult(uc.name, uc.digest)
    checks: list[Callable[[], Any]] = [
        lambda: owner_item(uc),
        lambda: policies_item(deployment.settings, uc),
        lambda: evaluations_item(store, uc, now),
        lambda: budgets_item(deployment, uc),
        lambda: alerts_item(uc),
        lambda: review_item(store, deployment.settings, uc, now),
        lambda: knowledge_item(deployment, uc),
        lambda: audit_item(store, deployment.settings),
        lambda: slo_item(store, uc, now),
        lambda: expectations_item(store, uc, now),
    ]
    for check in checks:
        item = check()
        if not isinstance(item, GateItem):
            item = await item
        result.items.append(item)
    return result


def eval_run_facts(suite: Path, *, passed: bool, pass_rate: float, leaks: int, cases: int,
                   failed: int, retrieval: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an evaluation run's audit record says, for the gate to find (``interlock eval run``);
    ``retrieval``: the averaged retrieval metrics and whether they met the suite's thresholds."""
    facts = {"suite": suite.name, "suite_digest": suite_digest(suite), "passed": passed,
             "pass_rate": round(pass_rate, 6), "leaks": leaks, "cases": cases, "failed": failed}
    if retrieval is not None:
        facts["retrieval"] = retrieval
    return facts


def eval_record(use_case: str | None, actor: str, facts: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"v": 1, "request_id": new_request_id(), "time": round(time.time(), 6),
                              "endpoint": EVAL_ENDPOINT, "event": EVAL_EVENT, "principal": actor,
                              "status": 200, "outcome": "ok" if facts.get("passed") else "failed", **facts}
    if use_case is not None:
        record["use_case"] = use_case
    return record


def gate_record_facts(result: GateResult) -> dict[str, Any]:
    return {"passed": result.passed, "items": [i.as_record() for i in result.items],
            "failing": [i.name for i in result.failing]}


# ---- the items


def owner_item(uc: UseCase) -> GateItem:
    owner = uc.doc.get("owner") or {}
    escalation = uc.doc.get("escalation") or []
    if not owner.get("email"):
        return GateItem("owner set", False, "no owner in the manifest")
    if not escalation:
        return GateItem("owner set", False, f"owner {owner['email']}, but no escalation contact")
    return GateItem("owner set", True, f"owner {owner['email']}; escalation "
                                       f"{', '.join(c['email'] for c in escalation)}")


def _lifecycle_probes(engine: PolicyEngine, settings: Settings, uc: UseCase) -> list[str]:
    """What the active policies must say about this use case's lifecycle; the problems found.

    The probe is a caller and model the policies serve in a pilot of this use case (a member of its
    groups, with each role of the catalogue in turn), so a refusal below is the lifecycle rule's doing.
    The same is asked of its tools, when policy runs or holds one of them in a pilot for a call
    without arguments (a tool whose rules need arguments cannot be probed this way and is left out)."""
    tenant = (engine.config.tenants or ("default",))[0]
    groups = frozenset(uc.users.groups)
    models = list(dict.fromkeys((*uc.models, *(m.alias for m in settings.models))))
    callers = [Principal(id="gate-probe", kind="user", tenant=tenant, groups=groups, name="gate-probe")]
    callers += [Principal(id="gate-probe", kind="user", tenant=tenant, groups=groups, roles=frozenset({r}),
                          name="gate-probe") for r in engine.config.roles]

    def allowed(probe: Principal, model: str, state: str, tester: bool, gate: bool) -> bool:
        facts = UseCaseFacts(uc.name, state, gate, tester)
        return engine.model_access(probe, None, model, frozenset(), None, use_case=facts).allowed

    found = next(((p, m) for p in callers for m in models if allowed(p, m, "pilot", True, True)), None)
    if found is None:
        return [f"no caller is served in a pilot of {uc.name} (tried its groups with each role, on "
                f"{', '.join(models) or 'no models'}), so the lifecycle rules cannot be checked"]
    probe, model = found
    problems = []
    for state, tester, gate, why in (("draft", False, False, "a draft serves an outsider"),
                                     ("retired", True, True, "a retired use case still serves"),
                                     ("production", True, False, "production serves without a passed gate")):
        if allowed(probe, model, state, tester, gate):
            problems.append(why)
    if not problems and not allowed(probe, model, "draft", True, False):
        problems.append("a draft refuses its own testers")

    def tool_runs(probe: Principal, tool: str, state: str, tester: bool, gate: bool) -> bool:
        facts = UseCaseFacts(uc.name, state, gate, tester)
        return engine.tool_call(probe, None, tool, {}, facts).outcome != "deny"

    served = next(((p, t) for p in callers for t in uc.tools if tool_runs(p, t, "pilot", True, True)), None)
    if served is not None:
        for state, tester, gate, why in (("draft", False, False, "a draft's tool serves an outsider"),
                                         ("retired", True, True, "a retired use case's tool still runs"),
                                         ("production", True, False, "production's tool runs without a passed gate")):
            if tool_runs(*served, state, tester, gate):
                problems.append(f"{why} ({served[1]})")
    return problems


def policies_item(settings: Settings, uc: UseCase) -> GateItem:
    name = "policies tested"
    try:
        holder = load_policies(settings)
    except ConfigError as exc:
        return GateItem(name, False, f"the policies do not load: {exc}")
    assert holder is not None
    problems = _lifecycle_probes(holder.engine, settings, uc)
    if problems:
        return GateItem(name, False, "lifecycle rules missing from the policies: " + "; ".join(problems))
    if settings.policy.dir is None:
        return GateItem(name, False, "the built-in policies are in use: there are no policy tests of this deployment")
    tests = settings.policy.dir / "tests"
    if not tests.is_dir():
        return GateItem(name, False, f"no policy tests: {tests} does not exist")
    report = run_policy_tests(holder.engine, tests)
    if not report.ok:
        first = report.failed[0].message if report.failed else "no cases"
        return GateItem(name, False, f"policy tests: {len(report.passed)} passed, {len(report.failed)} failed "
                                     f"({first})")
    return GateItem(name, True, f"lifecycle rules hold; {len(report.passed)} policy test cases pass ({tests})")


def suite_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def evaluations_item(store: Store, uc: UseCase, now: float) -> GateItem:
    name = "evaluations pass"
    suites = uc.doc.get("evaluations") or []
    if not suites:
        return GateItem(name, False, "the manifest names no evaluation suites")
    evidence, failed = [], False
    for entry in suites:
        path = (uc.path.parent / entry["suite"]).resolve()
        min_rate = float(entry.get("min_pass_rate", 1.0))
        max_age = float(entry.get("max_age_days", 7)) * 86400
        if not path.is_file():
            evidence.append(f"{entry['suite']}: no such suite file")
            failed = True
            continue
        digest = suite_digest(path)
        rows = await store.query_records(RecordQuery(event=EVAL_EVENT, use_case=uc.name, since=now - max_age,
                                                     limit=1000))
        runs = [r for _, r in rows if r.get("endpoint") == EVAL_ENDPOINT and r.get("suite_digest") == digest]
        if not runs:
            evidence.append(f"{entry['suite']}: not run on this version of the suite in the last "
                            f"{max_age / 86400:g} days")
            failed = True
            continue
        run = runs[0]  # newest first
        rate = float(run.get("pass_rate", 0.0))
        if not run.get("passed") or rate < min_rate:
            retrieval = run.get("retrieval") or {}
            if run.get("leaks"):
                why = f"{run.get('leaks', 0)} permission or leak failures"
            elif rate >= min_rate and retrieval.get("passed") is False:
                why = (f"retrieval below the suite's thresholds: recall {retrieval.get('recall')}, citation "
                       f"precision {retrieval.get('citation_precision')}")
            else:
                why = f"pass rate {rate:.2%} < {min_rate:.2%}"
            evidence.append(f"{entry['suite']}: failing ({why}, run {run['request_id']})")
            failed = True
        else:
            evidence.append(f"{entry['suite']}: {rate:.2%} >= {min_rate:.2%}, run {run['request_id']}")
    return GateItem(name, not failed, "; ".join(evidence))


def budgets_item(deployment: Deployment, uc: UseCase) -> GateItem:
    name = "budgets set"
    if not uc.budgets:
        return GateItem(name, False, "the manifest names no budgets")
    if deployment.budgets is None:
        return GateItem(name, False, f"not configured: the deployment has no budgets section "
                                     f"(the manifest names {', '.join(uc.budgets)})")
    missing = [b for b in uc.budgets if b not in deployment.budgets]
    if missing:
        return GateItem(name, False, f"budgets not configured: {', '.join(missing)}")
    # A named budget bounds this use case when it counts the use case's calls.
    elsewhere = [b for b in uc.budgets if deployment.budgets[b].get("scope", "use_case") == "use_case"
                 and deployment.budgets[b].get("match", "*") not in ("*", uc.name)]
    if elsewhere:
        return GateItem(name, False, f"budgets for another use case: {', '.join(elsewhere)}")
    return GateItem(name, True, f"budgets configured: {', '.join(uc.budgets)}")


def alerts_item(uc: UseCase) -> GateItem:
    alerts = uc.doc.get("alerts") or []
    if not alerts:
        return GateItem("alerts defined", False, "the manifest defines no alerts")
    return GateItem("alerts defined", True, "; ".join(f"{a['name']}: {a['when']} -> {', '.join(a['notify'])}"
                                                      for a in alerts))


async def review_item(store: Store, settings: Settings, uc: UseCase, now: float) -> GateItem:
    name = "review route staffed"
    review = uc.doc.get("review")
    if not review:
        return GateItem(name, False, "the manifest names no human review route")
    route = settings.approvals.routes.get(review["route"])
    if route is None:
        return GateItem(name, False, f"approval route {review['route']!r} is not under approvals.routes")
    needed = max(route.quorum, int(review.get("min_approvers", 1)))
    roles, groups = set(route.approvers.roles), set(route.approvers.groups)
    staff = sorted({k.principal.id for k in await store.list_keys()
                    if k.state(now) == "active" and (roles & k.principal.roles or groups & k.principal.groups)})
    who = f"roles {sorted(roles)}, groups {sorted(groups)}"
    if len(staff) < needed:
        return GateItem(name, False, f"route {review['route']!r} ({who}) needs {needed} approvers; "
                                     f"{len(staff)} hold active keys ({', '.join(staff) or 'none'})")
    return GateItem(name, True, f"route {review['route']!r} ({who}): {len(staff)} approvers "
                                f"({', '.join(staff)}) for a quorum of {needed}")


def knowledge_item(deployment: Deployment, uc: UseCase) -> GateItem:
    name = "knowledge sources governed"
    if not uc.knowledge_sources:
        return GateItem(name, True, "the use case reads no knowledge sources")
    if deployment.knowledge_sources is None:
        return GateItem(name, False, f"not configured: the deployment has no knowledge section "
                                     f"(the manifest names {', '.join(uc.knowledge_sources)})")
    problems, fine = [], []
    for source in uc.knowledge_sources:
        doc = deployment.knowledge_sources.get(source)
        if doc is None:
            problems.append(f"{source}: not configured")
        elif not has_access_rules(doc):
            problems.append(f"{source}: no access rule names a reader (default_access: principals, groups, "
                            f"roles or tenant_wide)")
        else:
            fine.append(source)
    if problems:
        return GateItem(name, False, "; ".join(problems))
    return GateItem(name, True, f"access rules on {', '.join(fine)}")


async def audit_item(store: Store, settings: Settings) -> GateItem:
    name = "audit log verified"
    log = AuditLog(store, settings.audit, create_key=False)
    try:
        key = log.public_key
    except ConfigError as exc:
        return GateItem(name, False, f"cannot verify: {exc}")
    report = await log.verify(key)
    return GateItem(name, report.ok, report.summary())


def _window(uc: UseCase, now: float) -> float:
    start = now - float((uc.doc.get("pilot") or {}).get("window_days", 14)) * 86400
    changed = uc.lifecycle.get("changed_at")
    if uc.state == "pilot" and isinstance(changed, int | float):
        start = max(start, float(changed))
    return start


async def _calls(store: Store, uc: UseCase, since: float) -> list[dict[str, Any]]:
    rows = await store.query_records(RecordQuery(use_case=uc.name, since=since, limit=_MAX_RECORDS))
    return [r for _, r in rows if r.get("use_case") == uc.name and is_call(r)]


def record_cost(record: dict[str, Any]) -> float | None:
    """The cost of one call in USD, where the records carry it (a price table is configured)."""
    cost = record.get("cost")
    if isinstance(cost, dict):
        cost = cost.get("usd")
    if cost is None:
        cost = record.get("cost_usd")
    return float(cost) if isinstance(cost, int | float) else None


async def slo_item(store: Store, uc: UseCase, now: float) -> GateItem:
    name = "SLOs met in the pilot"
    slos = uc.doc.get("slos") or {}
    if not {"p95_latency_ms", "error_rate", "cost_per_call_usd"} & set(slos):
        return GateItem(name, False, "the manifest declares no SLOs")
    since = _window(uc, now)
    calls = await _calls(store, uc, since)
    needed = int(slos.get("min_calls", 20))
    days = (now - since) / 86400
    if len(calls) < needed:
        return GateItem(name, False, f"{len(calls)} calls in the last {days:.1f} days; {needed} needed to judge")
    evidence, ok = [f"{len(calls)} calls over {days:.1f} days"], True
    if "p95_latency_ms" in slos:
        served = [float(r["latency_ms"]) for r in calls if r.get("outcome") == "ok" and "latency_ms" in r]
        if not served:
            evidence.append("no call was served")
            ok = False
        else:
            value = p95(served)
            met = value <= float(slos["p95_latency_ms"])
            ok &= met
            evidence.append(f"p95 latency {value:.0f} ms {'<=' if met else '>'} {slos['p95_latency_ms']} ms")
    if "error_rate" in slos:
        rate = sum(1 for r in calls if int(r.get("status", 0)) >= 500) / len(calls)
        met = rate <= float(slos["error_rate"])
        ok &= met
        evidence.append(f"error rate {rate:.2%} {'<=' if met else '>'} {float(slos['error_rate']):.2%}")
    if "cost_per_call_usd" in slos:
        costs = [c for c in map(record_cost, calls) if c is not None]
        if not costs:
            evidence.append("cost per call: the records carry no cost (no price table configured)")
            ok = False
        else:
            mean = sum(costs) / len(costs)
            met = mean <= float(slos["cost_per_call_usd"])
            ok &= met
            evidence.append(f"cost per call ${mean:.4f} {'<=' if met else '>'} ${slos['cost_per_call_usd']}")
    return GateItem(name, ok, "; ".join(evidence))


async def expectations_item(store: Store, uc: UseCase, now: float) -> GateItem:
    """The cost and latency the owner expects, stated, and set beside what the pilot's records show."""
    name = "cost and latency expectations"
    exp = uc.doc.get("expectations") or {}
    if "latency_target_ms" not in exp or "cost_per_task_usd" not in exp:
        return GateItem(name, False, "state cost_per_task_usd and latency_target_ms under expectations")
    since = _window(uc, now)
    calls = await _calls(store, uc, since)
    days = max((now - since) / 86400, 1e-9)
    parts = [f"expected ${exp['cost_per_task_usd']} a task, {exp['latency_target_ms']} ms"]
    if "monthly_volume" in exp:
        parts.append(f"{exp['monthly_volume']} calls a month expected, the pilot's pace is "
                     f"{len(calls) / days * 30:.0f}")
    costs = [c for c in map(record_cost, calls) if c is not None]
    parts.append(f"recorded ${sum(costs) / len(costs):.4f} a call" if costs else "no cost recorded yet")
    return GateItem(name, True, "; ".join(parts))


__all__ = ["USE_CASE_ENDPOINT", "Deployment", "GateItem", "GateResult", "deployment_of", "run_gate"]
