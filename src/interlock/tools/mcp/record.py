"""The audit record of one MCP ``tools/call``: facts about the call, never argument or result values."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from interlock.errors import Refusal
from interlock.identity.authenticator import Identity
from interlock.policy.decision import UseCaseFacts

ENDPOINT = "mcp.tools/call"
CLIENT_CLOSED = "client_closed"


@dataclass(slots=True)
class McpCall:
    """One ``tools/call`` as the audit log keeps it: facts, never argument or result values."""

    request_id: str
    identity: Identity
    tool: str
    started: float = field(default_factory=time.time)
    started_mono: float = field(default_factory=time.perf_counter)
    server: str = ""
    upstream_tool: str = ""
    digest: str = ""
    status: int = 200
    outcome: str = "ok"
    refusal_code: str = ""
    refusal_message: str = ""
    approval_id: str = ""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    data: list[tuple[str, str, str]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    upstream_ms: float = 0.0
    policy_version: str = ""
    tool_error: bool = False
    use_case: UseCaseFacts | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def refuse(self, refusal: Refusal) -> None:
        self.status = refusal.status
        self.refusal_code = refusal.code
        self.refusal_message = refusal.message
        self.outcome = {"approval_pending": "held", CLIENT_CLOSED: "cancelled"}.get(refusal.code, "refused")

    def record(self) -> dict[str, Any]:
        p, a = self.identity.principal, self.identity.app
        rec: dict[str, Any] = {
            "v": 1, "request_id": self.request_id, "time": round(self.started, 6), "endpoint": ENDPOINT,
            "principal": p.id, "principal_kind": p.kind, "app": a.id if a else None, "tenant": p.tenant,
            "auth": self.identity.method, "tool": self.tool, "server": self.server or None,
            "upstream_tool": self.upstream_tool or None, "tool_digest": self.digest or None,
            "status": self.status, "outcome": self.outcome, "refusal_code": self.refusal_code or None,
            "approval_id": self.approval_id or None, "decisions": self.decisions,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "upstream_ms": round(self.upstream_ms, 3),
            "latency_ms": round((time.perf_counter() - self.started_mono) * 1000.0, 3),
            "policy_version": self.policy_version or None,
            "flags": self.flags or None, "tool_error": self.tool_error or None,
        }
        if self.use_case is not None:
            rec["use_case"] = self.use_case.name
            rec["use_case_state"] = self.use_case.state
        if self.data:
            counts: dict[tuple[str, str, str], int] = {}
            for item in self.data:
                counts[item] = counts.get(item, 0) + 1
            rec["data"] = [{"class": c, "action": act, "where": w, "count": n} for (c, act, w), n in sorted(counts.items())]
        return {k: v for k, v in rec.items() if v is not None}


class Timer:
    """Times a step of the call into ``timings_ms``."""

    def __init__(self, call: McpCall, name: str) -> None:
        self._call, self._name = call, name

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._call.timings_ms[self._name] = (time.perf_counter() - self._start) * 1000.0
