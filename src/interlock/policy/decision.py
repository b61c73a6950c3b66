"""What a policy question answers: a decision, with the policies that made it and any errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DataAction = Literal["allow", "redact", "mask", "block"]
ToolOutcome = Literal["allow", "approve", "deny"]


@dataclass(frozen=True, slots=True)
class UseCaseFacts:
    """What policy sees of the use case a call belongs to, as ``context.use_case``: its name, lifecycle
    state, whether a passing launch gate vouches for the manifest as it stands, and whether this caller
    is one of its named testers."""

    name: str
    state: str
    gate_passed: bool
    tester: bool

    def as_context(self) -> dict[str, object]:
        return {"name": self.name, "state": self.state, "gate_passed": self.gate_passed, "tester": self.tester}


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not. ``policy_ids`` are the determining policies (permits when allowed, forbids
    when a forbid denied; empty for a default deny). ``errors`` are never ignored: any error denies."""

    allowed: bool
    policy_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClassDecision:
    """What happens to one data class on its way to a model."""

    data_class: str
    action: DataAction
    policy_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    reason: str = ""
    evaluated_as: str = ""  # the class Cedar was asked about: the family parent for an unknown class


@dataclass(frozen=True, slots=True)
class ToolDecision:
    """Run the tool call now, hold it for a person's approval, or refuse it."""

    outcome: ToolOutcome
    policy_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"
