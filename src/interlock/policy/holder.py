"""The running policy set: swapped whole on reload, and optionally shadowed by a candidate."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from interlock.identity.principal import Principal
from interlock.policy.decision import ClassDecision, Decision, ToolDecision, UseCaseFacts
from interlock.policy.engine import PolicyEngine
from interlock.policy.entities import EntityConfig

T = TypeVar("T")


class PolicyHolder:
    """Holds the current engine. Readers take ``holder.engine`` once per call and use that snapshot,
    so a reload never changes the policies under a call that is already running."""

    def __init__(self, engine: PolicyEngine, policy_dir: Path, entities: EntityConfig,
                 schema_path: Path | None = None) -> None:
        self._engine = engine
        self._policy_dir = policy_dir
        self._entities = entities
        self._schema_path = schema_path
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, policy_dir: Path, entities: EntityConfig, schema_path: Path | None = None) -> PolicyHolder:
        return cls(PolicyEngine.load(policy_dir, entities, schema_path), policy_dir, entities, schema_path)

    @property
    def engine(self) -> PolicyEngine:
        return self._engine

    @property
    def version(self) -> str:
        return self._engine.version

    def reload(self, entities: EntityConfig | None = None) -> PolicyEngine:
        """Build a new engine from the directory and swap it in.

        Raises ``PolicyLoadError`` and leaves the running set untouched when anything fails to load.
        """
        with self._reload_lock:
            wanted = entities or self._entities
            engine = PolicyEngine.load(self._policy_dir, wanted, self._schema_path)
            self._entities = wanted
            self._engine = engine  # one reference assignment: readers see the old set or the new one
            return engine


@dataclass(frozen=True, slots=True)
class Shadowed(Generic[T]):
    """The active decision (the one enforced) beside what the candidate would have decided."""

    active: T
    candidate: T | None
    differs: bool
    candidate_error: str = ""


class ShadowEvaluator:
    """Asks a candidate policy set the same questions as the active one. Only the active answer is
    ever enforced; a candidate that fails is reported as a difference, never raised."""

    def __init__(self, active: PolicyEngine, candidate: PolicyEngine) -> None:
        self.active = active
        self.candidate = candidate

    def _shadow(self, active: T, ask: Any) -> Shadowed[T]:
        try:
            candidate: T = ask(self.candidate)
        except Exception as exc:  # a broken candidate must not disturb the active path
            return Shadowed(active, None, True, f"{type(exc).__name__}: {exc}")
        return Shadowed(active, candidate, _outcome(active) != _outcome(candidate))

    def model_access(self, principal: Principal, app: Principal | None, model: str,
                     capabilities: frozenset[str], max_tokens: int | None, budget_spent_percent: int | None = None,
                     rate_remaining_percent: int | None = None,
                     use_case: UseCaseFacts | None = None) -> Shadowed[Decision]:
        active = self.active.model_access(principal, app, model, capabilities, max_tokens, budget_spent_percent,
                                          rate_remaining_percent, use_case)
        return self._shadow(active, lambda e: e.model_access(principal, app, model, capabilities, max_tokens,
                                                             budget_spent_percent, rate_remaining_percent, use_case))

    def data_actions(self, principal: Principal, app: Principal | None, model: str,
                     classes: Iterable[str]) -> Shadowed[dict[str, ClassDecision]]:
        wanted = list(classes)
        active = self.active.data_actions(principal, app, model, wanted)
        return self._shadow(active, lambda e: e.data_actions(principal, app, model, wanted))

    def may_restore(self, principal: Principal, data_class: str,
                    app: Principal | None = None) -> Shadowed[Decision]:
        active = self.active.may_restore(principal, data_class, app)
        return self._shadow(active, lambda e: e.may_restore(principal, data_class, app))

    def tool_call(self, principal: Principal, app: Principal | None, tool: str,
                  arguments: dict[str, Any], use_case: UseCaseFacts | None = None) -> Shadowed[ToolDecision]:
        active = self.active.tool_call(principal, app, tool, arguments, use_case)
        return self._shadow(active, lambda e: e.tool_call(principal, app, tool, arguments, use_case))


def _outcome(result: object) -> object:
    """What a difference is measured on: the outcome, not the wording of the reason."""
    if isinstance(result, Decision):
        return result.allowed
    if isinstance(result, ToolDecision):
        return result.outcome
    if isinstance(result, ClassDecision):
        return result.action
    if isinstance(result, dict):
        return {k: _outcome(v) for k, v in result.items()}
    return result
