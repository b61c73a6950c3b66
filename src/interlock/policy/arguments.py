"""Tool-call arguments as a Cedar context: typed values, plus the recipients found in them.

Cedar has no floating-point type: a whole float becomes a Long, any other float a `decimal`, so a
policy comparing it with a Long fails to evaluate and the call is refused rather than misjudged.
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"^[^@\s<>]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")
_EMAIL_IN_TEXT = re.compile(r"<([^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class ArgumentError(ValueError):
    """An argument value that cannot be expressed in Cedar."""


def to_cedar(value: Any, path: str = "arguments") -> Any:
    """Convert JSON-like tool arguments to Cedar JSON values; ``None`` entries are dropped."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise ArgumentError(f"{path} is outside Cedar's 64-bit integer range")
        return value
    if isinstance(value, float):
        if value.is_integer() and _LONG_MIN <= value <= _LONG_MAX:
            return int(value)
        return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}
    if isinstance(value, dict):
        return {str(k): to_cedar(v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_cedar(v, f"{path}[]") for v in value if v is not None]
    raise ArgumentError(f"{path} has a value of type {type(value).__name__} that policies cannot read")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for v in value for s in _strings(v)]
    return []


def recipients(arguments: dict[str, Any]) -> set[str]:
    """Every e-mail address given as an argument value (``a@b.com`` or ``Name <a@b.com>``)."""
    found: set[str] = set()
    for text in _strings(arguments):
        for part in text.split(","):
            part = part.strip()
            bracketed = _EMAIL_IN_TEXT.search(part)
            address = bracketed.group(1) if bracketed else part
            if _EMAIL.match(address):
                found.add(address.lower())
    return found


def tool_context(arguments: dict[str, Any]) -> dict[str, Any]:
    """The call_tool context without the app: arguments, recipient domains and recipient count."""
    addresses = recipients(arguments)
    return {
        "arguments": to_cedar(arguments),
        "email_domains": sorted({a.rsplit("@", 1)[1] for a in addresses}),
        "recipient_count": len(addresses),
    }
