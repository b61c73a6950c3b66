"""A finding: one span of text that belongs to a data class, and why we think so."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """``text[start:end]`` belongs to ``data_class`` with ``confidence`` in [0, 1].

    ``explanation`` is written for the audit log, so it names the rule and the evidence but never
    the value itself.
    """

    data_class: str
    start: int
    end: int
    confidence: float
    detector: str
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
