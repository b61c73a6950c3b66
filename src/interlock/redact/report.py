"""A scan report: findings and the redacted text of one text, as plain data (``interlock scan``, ``/admin/scan``)."""

from __future__ import annotations

from typing import Any

from interlock.detect.detector import Detector
from interlock.redact.actions import ActionPolicy
from interlock.redact.placeholders import PlaceholderMap
from interlock.redact.redactor import redact


def scan_report(text: str, detector: Detector, actions: ActionPolicy) -> dict[str, Any]:
    """Scan and redact ``text``. A ``block`` action raises :class:`~interlock.errors.DataBlocked`.

    Findings carry spans, not values, so the output is safe to log.
    """
    findings = detector.scan(text)
    mapping = PlaceholderMap("cli")
    result = redact(text, findings, actions, mapping)
    return {
        "findings": [f.to_dict() for f in findings],
        "counts": _counts(findings),
        "redacted": result.text,
        "actions": [{"data_class": c, "action": a} for c, a in result.applied],
    }


def _counts(findings: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.data_class] = counts.get(f.data_class, 0) + 1
    return dict(sorted(counts.items()))
