"""What to do with each data class: ``allow``, ``redact`` (reversible), ``mask`` (irreversible), ``block``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Action = Literal["allow", "redact", "mask", "block"]
ACTIONS: frozenset[str] = frozenset(get_args(Action))


@dataclass(frozen=True, slots=True)
class ActionPolicy:
    """Per-class actions. Keys are exact classes (``pii.email``) or families (``secret.*``).

    Lookup order: exact class, then family, then ``default``.
    """

    by_class: Mapping[str, Action] = field(default_factory=dict)
    default: Action = "redact"

    def __post_init__(self) -> None:
        for key, action in self.by_class.items():
            if action not in ACTIONS:
                raise ValueError(f"action for {key!r} must be one of {sorted(ACTIONS)}, not {action!r}")
        if self.default not in ACTIONS:
            raise ValueError(f"default action must be one of {sorted(ACTIONS)}")

    def action_for(self, data_class: str) -> Action:
        exact = self.by_class.get(data_class)
        if exact is not None:
            return exact
        family = self.by_class.get(data_class.split(".", 1)[0] + ".*")
        return family if family is not None else self.default
