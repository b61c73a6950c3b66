"""The tool gate: the one check every tool call passes before it may run, whoever proposed it.

The chat endpoint asks it about each tool call a model returns; the MCP gateway asks it about each
``tools/call``. In order: the tool is in the registry; its arguments are a JSON object that matches
the tool's schema; values of sensitive data classes in the arguments may travel to this tool; and
Cedar decides (``call_tool`` runs now, ``call_tool_with_approval`` waits for a person, neither refuses),
with the arguments, recipient domains and recipient count in the context. Anything that breaks on
the way refuses the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from jsonschema import Draft202012Validator

from interlock.detect.finding import Finding
from interlock.identity.principal import Principal
from interlock.policy.decision import UseCaseFacts
from interlock.policy.holder import PolicyHolder
from interlock.tools.registry import RegisteredTool, ToolRegistry

Outcome = Literal["allow", "approve", "deny"]

# Refusal codes a verdict may carry (stable: clients and agent frameworks branch on them).
TOOL_UNKNOWN = "tool_unknown"
TOOL_ARGUMENTS_INVALID = "tool_arguments_invalid"
TOOL_DENIED = "tool_denied"
DATA_BLOCKED = "data_blocked"
APPROVAL_REQUIRED = "approval_required"

_MAX_DEPTH = 32
_decode = msgspec.json.Decoder().decode


class ToolArgumentsError(ValueError):
    """Tool-call arguments that are not a JSON object."""


def parse_arguments(text: str) -> dict[str, Any]:
    """A model's ``function.arguments`` string as a dict ("" counts as no arguments)."""
    if not text.strip():
        return {}
    try:
        value = _decode(text)
    except (msgspec.DecodeError, UnicodeEncodeError):
        raise ToolArgumentsError("the arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise ToolArgumentsError("the arguments must be a JSON object")
    if _depth(value) > _MAX_DEPTH:
        raise ToolArgumentsError(f"the arguments nest deeper than {_MAX_DEPTH} levels")
    return value


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def string_values(value: Any) -> list[str]:
    """Every string in a JSON value (keys too: a model can smuggle a value into a key)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *string_values(v))]
    if isinstance(value, list):
        return [s for v in value for s in string_values(v)]
    return []


@dataclass(frozen=True, slots=True)
class ToolVerdict:
    """What happens to one tool call. ``message`` is for the caller and never holds an argument value."""

    tool: str
    outcome: Outcome
    code: str = ""
    message: str = ""
    policy_ids: tuple[str, ...] = ()
    # Data classes found in the arguments (never the values).
    classes: tuple[str, ...] = ()
    # The approval route for a held call (from the registry).
    route: str = "default"
    risk: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    def as_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "outcome": self.outcome}
        if self.code:
            out["code"] = self.code
        if self.policy_ids:
            out["policy_ids"] = list(self.policy_ids)
        if self.classes:
            out["classes"] = list(self.classes)
        return out


class ToolGate:
    def __init__(self, registry: ToolRegistry, policy: PolicyHolder, scan: Callable[[str], list[Finding]]) -> None:
        self.registry = registry
        self._policy = policy
        self._scan = scan

    def check(self, principal: Principal, app: Principal | None, name: str, arguments: Any, *,
              schema: Draft202012Validator | None = None, use_case: UseCaseFacts | None = None) -> ToolVerdict:
        """Judge one call. ``schema`` adds a second argument schema to satisfy (an MCP tool's pinned one);
        ``use_case`` is the use case the call belongs to (policy's ``context.use_case``)."""
        tool = self.registry.get(name)
        if tool is None:
            return ToolVerdict(name, "deny", TOOL_UNKNOWN,
                               f"The tool {name!r} is not in the tool registry, so calls to it are refused.")
        verdict = self._arguments(tool, arguments, schema)
        if verdict is not None:
            return verdict
        engine = self._policy.engine
        classes = sorted({f.data_class for text in string_values(arguments) for f in self._scan(text)})
        if classes:
            decided = engine.data_to_tool(principal, app, name, classes)
            blocked = [c for c in classes if not decided[c].allowed]
            if blocked:
                ids = tuple(dict.fromkeys(p for c in blocked for p in decided[c].policy_ids))
                return ToolVerdict(name, "deny", DATA_BLOCKED,
                                   f"The call to {name!r} was refused: its arguments contain "
                                   f"{', '.join(blocked)} values, which policy does not let reach this tool.",
                                   ids, tuple(classes), tool.settings.approval, tool.settings.risk)
        decision = engine.tool_call(principal, app, name, arguments, use_case)
        found, route, risk = tuple(classes), tool.settings.approval, tool.settings.risk
        if decision.outcome == "allow":
            return ToolVerdict(name, "allow", "", decision.reason, decision.policy_ids, found, route, risk)
        if decision.outcome == "approve":
            return ToolVerdict(name, "approve", APPROVAL_REQUIRED,
                               f"The call to {name!r} needs a person's approval before it runs "
                               f"({', '.join(decision.policy_ids)}).", decision.policy_ids, found, route, risk)
        return ToolVerdict(name, "deny", TOOL_DENIED, f"The call to {name!r} was refused by policy: {decision.reason}.",
                           decision.policy_ids, found, route, risk)

    def _arguments(self, tool: RegisteredTool, arguments: Any,
                   schema: Draft202012Validator | None) -> ToolVerdict | None:
        if not isinstance(arguments, dict):
            return ToolVerdict(tool.name, "deny", TOOL_ARGUMENTS_INVALID,
                               f"The arguments of {tool.name!r} must be a JSON object.")
        if _depth(arguments) > _MAX_DEPTH:
            return ToolVerdict(tool.name, "deny", TOOL_ARGUMENTS_INVALID,
                               f"The arguments of {tool.name!r} nest deeper than {_MAX_DEPTH} levels.")
        problems = tool.problems(arguments)
        if schema is not None:
            problems += tool.problems(arguments, schema)
        if problems:
            return ToolVerdict(tool.name, "deny", TOOL_ARGUMENTS_INVALID,
                               f"The arguments of {tool.name!r} do not match its schema: " + "; ".join(problems))
        return None
