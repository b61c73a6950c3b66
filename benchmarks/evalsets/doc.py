"""Rendering a template into a text with labelled spans: sensitive values and hard negatives."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Item:
    """One filled placeholder: ``cls`` for a sensitive value, ``negative`` for a must-not-redact value."""

    text: str
    cls: str | None = None
    kind: str = ""
    negative: bool = False


PLACEHOLDER = re.compile(r"\{\{([a-z_0-9]+)\}\}")


@dataclass(slots=True)
class Rendered:
    text: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    negatives: list[dict[str, Any]] = field(default_factory=list)


def render(template: str, fill: Callable[[str], Item]) -> Rendered:
    """Fill every ``{{name}}`` with ``fill(name)``, recording where each labelled value landed."""
    out: list[str] = []
    pos = 0
    length = 0
    result = Rendered("")
    for match in PLACEHOLDER.finditer(template):
        literal = template[pos:match.start()]
        out.append(literal)
        length += len(literal)
        item = fill(match.group(1))
        start, end = length, length + len(item.text)
        if item.cls is not None:
            result.spans.append({"class": item.cls, "kind": item.kind, "start": start, "end": end,
                                 "value": item.text})
        elif item.negative:
            result.negatives.append({"kind": item.kind, "start": start, "end": end, "value": item.text})
        out.append(item.text)
        length = end
        pos = match.end()
    out.append(template[pos:])
    result.text = "".join(out)
    return result
