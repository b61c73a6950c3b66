"""The tool registry: every tool an agent may call, from the settings, with its compiled argument schema.

A tool that is not here does not exist as far as policy is concerned: calls naming it are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from interlock.settings import ToolSettings

# Error messages quote at most this much of a schema path or message, and never argument values.
_MAX_ERRORS = 5


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    settings: ToolSettings
    validator: Draft202012Validator

    @property
    def name(self) -> str:
        return self.settings.name

    def problems(self, arguments: Any, validator: Draft202012Validator | None = None) -> list[str]:
        """What is wrong with these arguments against the tool's schema, naming fields, not values."""
        checker = validator or self.validator
        out = []
        for error in sorted(checker.iter_errors(arguments), key=lambda e: list(e.absolute_path))[:_MAX_ERRORS]:
            where = "arguments" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            out.append(f"{where}: fails '{error.validator}' ({_rule(error.validator, error.validator_value)})")
        return out


def _rule(keyword: Any, value: Any) -> str:
    """The schema rule that failed, shown without the offending value."""
    if keyword in ("required", "enum", "type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                   "minLength", "maxLength", "minItems", "maxItems", "pattern", "format", "const"):
        return f"{keyword}: {value!r}"[:160]
    if keyword == "additionalProperties":
        return "no other fields are allowed"
    return str(keyword)


def compile_schema(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


class ToolRegistry:
    """Immutable after start-up; look-ups are a dict access."""

    def __init__(self, tools: tuple[ToolSettings, ...]) -> None:
        self._tools = {t.name: RegisteredTool(t, compile_schema(t.parameters)) for t in tools}

    def get(self, name: str) -> RegisteredTool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def served_by(self, server: str) -> list[RegisteredTool]:
        return [t for t in self._tools.values() if t.settings.server == server]
