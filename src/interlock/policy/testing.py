"""Policy test files: cases of caller, question and expected outcome, run against a loaded engine.

A file (YAML, or JSON) holds optional named ``principals`` and a list of ``cases``::

    principals:
      alice: {id: alice, kind: user, tenant: acme, roles: [support_agent]}
    cases:
      - name: support may refund small amounts
        principal: alice                  # a name from ``principals`` or an inline mapping
        action: call_tool                 # invoke_model | send_data | restore_data | call_tool | send_data_to_tool
        resource: refund_payment          # a model alias, a data class or a tool name
        context: {arguments: {amount: 50}}   # invoke_model and call_tool also take use_case: {name, state, tester, gate_passed}
        expect: allow
        policies: [tools.refund-small]    # optional: exactly the determining policy ids
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interlock.identity.principal import Principal
from interlock.policy.decision import UseCaseFacts
from interlock.policy.engine import PolicyEngine

ACTIONS: dict[str, frozenset[str]] = {
    "invoke_model": frozenset({"allow", "deny"}),
    "send_data": frozenset({"allow", "redact", "mask", "block"}),
    "restore_data": frozenset({"allow", "deny"}),
    "call_tool": frozenset({"allow", "approve", "deny"}),
    "send_data_to_tool": frozenset({"allow", "deny"}),
}


class CaseError(ValueError):
    """A policy test case that is not well formed."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The engine's answer to one question, in the words a test file uses."""

    outcome: str
    policy_ids: tuple[str, ...]
    reason: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: str
    name: str
    ok: bool
    expected: str
    actual: str
    policy_ids: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class TestReport:
    __test__ = False  # a result type, not a pytest test class

    results: tuple[CaseResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.ok)

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return bool(self.results) and not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.passed)} passed, {len(self.failed)} failed"]
        lines += [f"FAIL {r.file}: {r.name}: {r.message}" for r in self.failed]
        return "\n".join(lines)


def principal_from(raw: Any, named: dict[str, Principal]) -> Principal:
    if isinstance(raw, str):
        if raw not in named:
            raise CaseError(f"principal {raw!r} is not defined under 'principals'")
        return named[raw]
    if not isinstance(raw, dict) or "id" not in raw:
        raise CaseError("a principal is a name or a mapping with at least 'id'")
    unknown = set(raw) - {"id", "kind", "tenant", "roles", "groups", "may_act_for", "name"}
    if unknown:
        raise CaseError(f"unknown principal fields {sorted(unknown)}")
    return Principal(id=str(raw["id"]), kind=raw.get("kind", "user"),
                     tenant=str(raw.get("tenant", "default")),
                     roles=frozenset(raw.get("roles", ())), groups=frozenset(raw.get("groups", ())),
                     may_act_for=bool(raw.get("may_act_for", False)), name=str(raw.get("name", "")))


def ask(engine: PolicyEngine, principal: Principal, app: Principal | None, action: str, resource: str,
        context: dict[str, Any]) -> Answer:
    """Put one question to the engine exactly as the gateway would."""
    use_case = context.get("use_case")
    if use_case is not None and not (isinstance(use_case, dict) and set(use_case) <= {"name", "state",
                                                                                   "gate_passed", "tester"}):
        raise CaseError("context.use_case is a mapping of name, state, gate_passed and tester")
    facts = None if use_case is None else UseCaseFacts(
        str(use_case.get("name", "")), str(use_case.get("state", "")), bool(use_case.get("gate_passed", False)),
        bool(use_case.get("tester", False)))
    if action == "invoke_model":
        max_tokens = context.get("max_tokens")
        spent, left = context.get("budget_spent_percent"), context.get("rate_remaining_percent")
        d = engine.model_access(principal, app, resource, frozenset(context.get("capabilities", ())),
                                None if max_tokens is None else int(max_tokens),
                                None if spent is None else int(spent), None if left is None else int(left), facts)
        return Answer("allow" if d.allowed else "deny", d.policy_ids, d.reason, d.errors)
    if action == "send_data":
        if "model" not in context:
            raise CaseError("send_data needs context.model")
        c = engine.data_actions(principal, app, str(context["model"]), [resource])[resource]
        return Answer(c.action, c.policy_ids, c.reason, c.errors)
    if action == "restore_data":
        d = engine.may_restore(principal, resource, app)
        return Answer("allow" if d.allowed else "deny", d.policy_ids, d.reason, d.errors)
    if action == "call_tool":
        arguments = context.get("arguments", {})
        if not isinstance(arguments, dict):
            raise CaseError("context.arguments must be a mapping")
        t = engine.tool_call(principal, app, resource, arguments, facts)
        return Answer(t.outcome, t.policy_ids, t.reason, t.errors)
    if action == "send_data_to_tool":
        if "tool" not in context:
            raise CaseError("send_data_to_tool needs context.tool")
        d = engine.data_to_tool(principal, app, str(context["tool"]), [resource])[resource]
        return Answer("allow" if d.allowed else "deny", d.policy_ids, d.reason, d.errors)
    raise CaseError(f"unknown action {action!r}; use one of {sorted(ACTIONS)}")


def _run_case(engine: PolicyEngine, file: str, index: int, case: Any,
              named: dict[str, Principal]) -> CaseResult:
    name = f"case {index + 1}"
    try:
        if not isinstance(case, dict):
            raise CaseError("a case is a mapping")
        name = str(case.get("name", name))
        action, expect = str(case.get("action", "")), str(case.get("expect", ""))
        if action in ACTIONS and expect not in ACTIONS[action]:
            raise CaseError(f"expect must be one of {sorted(ACTIONS[action])} for {action}")
        principal = principal_from(case.get("principal"), named)
        app = principal_from(case["app"], named) if case.get("app") is not None else None
        answer = ask(engine, principal, app, action, str(case.get("resource", "")), case.get("context") or {})
    except (CaseError, KeyError, TypeError, ValueError) as exc:
        return CaseResult(file, name, False, str(case.get("expect", "")) if isinstance(case, dict) else "",
                          "", message=f"invalid case: {exc}")
    problems = []
    if answer.outcome != expect:
        problems.append(f"expected {expect}, got {answer.outcome} ({answer.reason})")
    wanted_ids = case.get("policies")
    if wanted_ids is not None and sorted(wanted_ids) != sorted(answer.policy_ids):
        problems.append(f"expected policies {sorted(wanted_ids)}, got {sorted(answer.policy_ids)}")
    return CaseResult(file, name, not problems, expect, answer.outcome, answer.policy_ids,
                      "; ".join(problems))


def _test_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
    return [path]


def run_policy_tests(engine: PolicyEngine, path: Path) -> TestReport:
    """Run one test file, or every ``.yaml``/``.yml``/``.json`` file in a directory."""
    results: list[CaseResult] = []
    for file in _test_files(path):
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            named = {k: principal_from(v, {}) for k, v in (doc.get("principals") or {}).items()}
            cases = doc.get("cases") or []
            if not isinstance(cases, list):
                raise CaseError("'cases' must be a list")
        except (OSError, yaml.YAMLError, CaseError, AttributeError) as exc:
            message = f"unreadable test file: {exc}"
            results.append(CaseResult(file.name, "(file)", False, "", "", message=message))
            continue
        results += [_run_case(engine, file.name, i, case, named) for i, case in enumerate(cases)]
    return TestReport(tuple(results))
