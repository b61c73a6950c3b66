"""What the ``interlock policy`` commands call: validate, test and explain, all in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlock.identity.principal import Principal
from interlock.policy.engine import PolicyEngine
from interlock.policy.entities import EntityConfig
from interlock.policy.source import PolicyLoadError
from interlock.policy.testing import TestReport, ask, run_policy_tests


def validate(policy_dir: Path, entities: EntityConfig, schema_path: Path | None = None) -> list[str]:
    """Every problem in the policy set, each naming file and line; empty when the set loads."""
    try:
        PolicyEngine.load(policy_dir, entities, schema_path)
    except PolicyLoadError as exc:
        return list(exc.problems)
    return []


def run_tests(policy_dir: Path, entities: EntityConfig, tests: Path,
              schema_path: Path | None = None) -> TestReport:
    """Load the policy set (raising ``PolicyLoadError`` if it does not load) and run the test files."""
    return run_policy_tests(PolicyEngine.load(policy_dir, entities, schema_path), tests)


def explain(engine: PolicyEngine, principal: Principal, action: str, resource: str,
            context: dict[str, Any] | None = None, app: Principal | None = None) -> dict[str, Any]:
    """Answer one question and show why: the outcome, the reason, and the text of each deciding policy."""
    answer = ask(engine, principal, app, action, resource, context or {})
    policies = []
    for policy_id in answer.policy_ids:
        source = engine.sources.get(policy_id)
        if source is not None:
            policies.append({"id": policy_id, "effect": source.effect, "file": source.file,
                             "line": source.line, "text": source.text})
    return {
        "policy_version": engine.version,
        "principal": {"id": principal.id, "kind": principal.kind, "tenant": principal.tenant,
                      "roles": sorted(principal.roles), "groups": sorted(principal.groups)},
        "app": None if app is None else app.id,
        "action": action,
        "resource": resource,
        "outcome": answer.outcome,
        "reason": answer.reason,
        "errors": list(answer.errors),
        "policies": policies,
    }
