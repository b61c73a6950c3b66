"""Apply actions to findings (redact, mask, block) and restore placeholders for permitted readers."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import re2

from interlock.detect.finding import Finding
from interlock.errors import DataBlocked
from interlock.redact.actions import ActionPolicy
from interlock.redact.labels import label_for
from interlock.redact.placeholders import PlaceholderMap

PLACEHOLDER_PATTERN = r"\[[A-Z][A-Z0-9_]*_[0-9]{1,9}\]"


class _AllClasses:
    def __contains__(self, item: object) -> bool:
        return True


ALL_CLASSES: Container[str] = _AllClasses()


@dataclass(frozen=True, slots=True)
class Redaction:
    """Text with the actions applied, plus what was done (class and action, never the value)."""

    text: str
    applied: tuple[tuple[str, str], ...]


def check_blocked(findings: Iterable[Finding], policy: ActionPolicy, *, answer: bool = False) -> None:
    """Refuse with ``data_blocked`` if any finding's class is blocked; ``answer``: the findings are in
    what the model returned, not in what the caller sent."""
    refuse_blocked({f.data_class for f in findings}, policy, answer=answer)


def refuse_blocked(classes: Iterable[str], policy: ActionPolicy, *, answer: bool = False) -> None:
    """``check_blocked`` for the classes found (each once)."""
    blocked = sorted(c for c in classes if policy.action_for(c) == "block")
    if blocked:
        names = ", ".join(blocked)
        if answer:
            raise DataBlocked(f"The model's answer contains data of class {names}, which policy does not allow "
                              "to be shown here, so the answer was withheld.")
        raise DataBlocked(f"The request contains data of class {names}, which policy does not allow to be "
                          "sent here. Remove it and try again.")


def mask(data_class: str, value: str) -> str:
    """Irreversible stand-in. Card numbers keep their last four digits, as PCI DSS permits."""
    if data_class == "pci.card_number":
        digits = [ch for ch in value if ch.isdigit()]
        return "****" + "".join(digits[-4:])
    return f"[REDACTED:{label_for(data_class)}]"


def redact(text: str, findings: Sequence[Finding], policy: ActionPolicy, mapping: PlaceholderMap) -> Redaction:
    """``findings`` must be non-overlapping and sorted (as :meth:`Detector.scan` returns them).

    Raises :class:`~interlock.errors.DataBlocked` naming the class if any finding's action is ``block``.
    """
    check_blocked(findings, policy)
    parts: list[str] = []
    applied: list[tuple[str, str]] = []
    cursor = 0
    for f in findings:
        action = policy.action_for(f.data_class)
        if action == "allow" or f.start < cursor:
            continue
        value = text[f.start:f.end]
        parts.append(text[cursor:f.start])
        parts.append(mapping.placeholder_for(f.data_class, value) if action == "redact" else mask(f.data_class, value))
        applied.append((f.data_class, action))
        cursor = f.end
    parts.append(text[cursor:])
    return Redaction("".join(parts), tuple(applied))


class Restorer:
    """Replaces placeholders with their values, only for classes the reader may see."""

    def __init__(self) -> None:
        self._regex = re2.compile(PLACEHOLDER_PATTERN)

    def restore(self, text: str, mapping: PlaceholderMap, allowed_classes: Container[str]) -> str:
        if "[" not in text:
            return text
        parts: list[str] = []
        cursor = 0
        for match in self._regex.finditer(text):
            entry = mapping.lookup(match.group())
            if entry is None or entry.data_class not in allowed_classes:
                continue
            start, end = match.span()
            parts.append(text[cursor:start])
            parts.append(entry.value)
            cursor = end
        parts.append(text[cursor:])
        return "".join(parts)


_DEFAULT_RESTORER = Restorer()


def restore(text: str, mapping: PlaceholderMap, allowed_classes: Container[str]) -> str:
    """Convenience wrapper around a shared, stateless :class:`Restorer`."""
    return _DEFAULT_RESTORER.restore(text, mapping, allowed_classes)


def mask_json(value: Any, scan: Callable[[str], list[Finding]], shown: frozenset[str] = frozenset()) -> Any:
    """A copy of a JSON value with every sensitive value found (in strings and object keys) masked:
    what approvers, audit payloads and logs may show of tool arguments. Values of the classes in
    ``shown`` are left as they are (a reviewer policy lets see them)."""
    policy = ActionPolicy(dict.fromkeys(shown, "allow"), default="mask") if shown else _MASK_EVERYTHING
    return _masked(value, scan, policy)


def _masked(value: Any, scan: Callable[[str], list[Finding]], policy: ActionPolicy) -> Any:
    if isinstance(value, str):
        found = scan(value)
        return redact(value, found, policy, PlaceholderMap("mask")).text if found else value
    if isinstance(value, dict):
        return {_masked(k, scan, policy): _masked(v, scan, policy) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, scan, policy) for v in value]
    return value


def classes_in_json(value: Any, scan: Callable[[str], list[Finding]]) -> set[str]:
    """The data classes found in a JSON value's strings and object keys."""
    if isinstance(value, str):
        return {f.data_class for f in scan(value)}
    if isinstance(value, dict):
        return set().union(*(classes_in_json(k, scan) | classes_in_json(v, scan) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(classes_in_json(v, scan) for v in value))
    return set()


_MASK_EVERYTHING = ActionPolicy({}, default="mask")
