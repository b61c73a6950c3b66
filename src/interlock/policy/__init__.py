"""Policy as code: Cedar policies validated against Interlock's schema, answering four questions
(model access, data actions, restore, tool calls) with the ids of the policies that decided."""

from interlock.policy.commands import explain, run_tests, validate
from interlock.policy.decision import ClassDecision, DataAction, Decision, ToolDecision, ToolOutcome
from interlock.policy.engine import DEFAULT_SCHEMA_PATH, PolicyEngine
from interlock.policy.entities import DEFAULT_DATA_CLASSES, EntityConfig, ModelEntity, ToolEntity
from interlock.policy.holder import PolicyHolder, Shadowed, ShadowEvaluator
from interlock.policy.source import PolicyLoadError
from interlock.policy.testing import CaseResult, TestReport, run_policy_tests

__all__ = [
    "DEFAULT_DATA_CLASSES",
    "DEFAULT_SCHEMA_PATH",
    "CaseResult",
    "ClassDecision",
    "DataAction",
    "Decision",
    "EntityConfig",
    "ModelEntity",
    "PolicyEngine",
    "PolicyHolder",
    "PolicyLoadError",
    "ShadowEvaluator",
    "Shadowed",
    "TestReport",
    "ToolDecision",
    "ToolEntity",
    "ToolOutcome",
    "explain",
    "run_policy_tests",
    "run_tests",
    "validate",
]
