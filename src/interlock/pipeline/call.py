"""The Call: everything the pipeline learns about one request, in one typed object."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from interlock.identity.principal import Principal
from interlock.pipeline.schema import KnowledgeOptions
from interlock.policy.decision import UseCaseFacts
from interlock.redact.placeholders import PlaceholderMap


@dataclass(slots=True)
class StageDecision:
    """A yes/no (or an action) a stage took, with the rules that made it."""

    stage: str
    outcome: str
    reason: str = ""
    policy_ids: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "outcome": self.outcome}
        if self.reason:
            out["reason"] = self.reason
        if self.policy_ids:
            out["policy_ids"] = list(self.policy_ids)
        return out


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens the provider read from its cache (priced lower), part of prompt_tokens.
    cached_tokens: int = 0
    # True when the upstream gave no usage and the gateway counted the tokens itself (an estimate).
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Call:
    """One request as it moves through the stages.

    ``principal`` is who authenticated; when an application acts for an end user, ``app`` is the
    application and ``principal`` becomes the end user, the subject of the call. Both are recorded.
    """

    request_id: str
    endpoint: str
    raw_body: bytes
    headers: dict[str, str]
    started: float = field(default_factory=time.time)
    started_mono: float = field(default_factory=time.perf_counter)

    principal: Principal | None = None
    app: Principal | None = None
    auth_method: str = ""
    # The id of the API key the caller presented, if any (a budget or rate-limit scope; never the key).
    key_id: str = ""
    # The use case the call belongs to (set by the use_case stage when use cases are configured).
    use_case: UseCaseFacts | None = None
    # The use case's name where the call carries no facts of it (feedback names an earlier call's).
    use_case_label: str = ""
    # The approved prompt (name, version) the call ran with (set by the prompt stage).
    prompt_version: tuple[str, int] | None = None

    body: dict[str, Any] = field(default_factory=dict)
    model_alias: str = ""
    stream: bool = False
    client_wants_usage: bool = False
    # Top-level fields forwarded unread because the deployment passes them through for this model.
    passed_through: frozenset[str] = frozenset()

    provider: str = ""
    upstream_model: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)

    response: dict[str, Any] | None = None
    stream_iter: AsyncIterator[dict[str, Any]] | None = None

    # Redacted material worth keeping for investigation, stored apart from the record (erasable).
    payload: dict[str, Any] | None = None

    # The conversation's placeholder map (set by the protect stage, used to restore the answer).
    mapping: PlaceholderMap | None = None
    policy_version: str = ""
    shadow_differences: list[dict[str, Any]] = field(default_factory=list)
    # What sensitive data was found and what was done to it: how many of each (class, action, where), never
    # a value. Counted, not listed: a large dense text has hundreds of thousands of findings.
    data_findings: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    # Every tool call the model proposed (or an approval resumed), as judged: tool, outcome, code, policy
    # ids, approval id; never argument values.
    tool_verdicts: list[dict[str, Any]] = field(default_factory=list)
    # Approvals this call spent to answer with their tool calls instead of asking the model.
    resumed_approvals: list[str] = field(default_factory=list)

    # Governed retrieval: what the request asked for (the ``interlock.knowledge`` field), what was
    # retrieved (documents, chunks, access-rule versions, decisions; never text) and the citations
    # returned with the answer.
    knowledge: KnowledgeOptions | None = None
    retrieval: dict[str, Any] | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)

    decisions: list[StageDecision] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    # Streams: when the first chunk went to the client, in ms from the call's start (0: not yet, or none).
    first_token_ms: float = 0.0
    # Characters of answer text streamed so far (counts the tokens of an upstream that reports none).
    streamed_chars: int = 0
    # The call's cost in nano-dollars (None: its model has no price) and the price table it came from.
    cost_nano: int | None = None
    price_version: str = ""
    # The usage stage's charge (budgets reserved, to settle when the call ends), when limits apply.
    charge: Any = None
    # For the policy: the largest share of a budget spent before this call, the smallest share of a rate
    # limit left after it (whole percentages; None where none applies).
    budget_spent_percent: int | None = None
    rate_remaining_percent: int | None = None
    # Headers every answer of this call carries (x-ratelimit-*), as the usage stage found them.
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    upstream_ms: float = 0.0
    status: int = 200
    refusal_code: str = ""
    refusal_message: str = ""
    finish_reason: str = ""

    def decide(self, stage: str, outcome: str, reason: str = "", policy_ids: tuple[str, ...] = ()) -> None:
        self.decisions.append(StageDecision(stage, outcome, reason, policy_ids))

    @property
    def use_case_name(self) -> str:
        return self.use_case.name if self.use_case is not None else self.use_case_label

    @property
    def tenant(self) -> str:
        if self.principal is not None:
            return self.principal.tenant
        return ""

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started_mono) * 1000.0

    def record(self) -> dict[str, Any]:
        """The call record: facts about the call, never raw prompt or output text."""
        p, a = self.principal, self.app
        rec: dict[str, Any] = {
            "v": 1,
            "request_id": self.request_id,
            "time": round(self.started, 6),
            "endpoint": self.endpoint,
            "principal": p.id if p else None,
            "principal_kind": p.kind if p else None,
            "key": self.key_id or None,
            "use_case": self.use_case_name or None,
            "app": a.id if a else None,
            "tenant": self.tenant or None,
            "auth": self.auth_method or None,
            "model": self.model_alias or None,
            "provider": self.provider or None,
            "upstream_model": self.upstream_model or None,
            "stream": self.stream,
            "status": self.status,
            "outcome": "ok" if not self.refusal_code else "refused",
            "refusal_code": self.refusal_code or None,
            "decisions": [d.as_record() for d in self.decisions],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "upstream_ms": round(self.upstream_ms, 3),
            "latency_ms": round(self.elapsed_ms(), 3),
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total_tokens,
            },
        }
        if self.usage.cached_tokens:
            rec["usage"]["cached_tokens"] = self.usage.cached_tokens
        if self.usage.estimated:
            rec["usage"]["estimated"] = True
        if self.cost_nano is not None:
            rec["cost"] = {"usd": self.cost_nano / 1e9, "nano_usd": self.cost_nano, "prices": self.price_version}
        if self.charge is not None:
            rec["budget"] = self.charge.record()
        if self.policy_version:
            rec["policy_version"] = self.policy_version
        if self.use_case is not None:
            rec["use_case"] = self.use_case.name
            rec["use_case_state"] = self.use_case.state
        if self.prompt_version is not None:
            rec["prompt"] = {"name": self.prompt_version[0], "version": self.prompt_version[1]}
        if self.data_findings:
            rec["data"] = [{"class": c, "action": a, "where": w, "count": n}
                           for (c, a, w), n in sorted(self.data_findings.items())]
        if self.tool_verdicts:
            rec["tools"] = self.tool_verdicts
        if self.resumed_approvals:
            rec["resumed_approvals"] = self.resumed_approvals
        if self.shadow_differences:
            rec["shadow_differences"] = self.shadow_differences
        if self.retrieval is not None:
            rec["retrieval"] = self.retrieval
        if self.attempts:
            rec["attempts"] = self.attempts
        if self.finish_reason:
            rec["finish_reason"] = self.finish_reason
        if self.first_token_ms:
            rec["first_token_ms"] = round(self.first_token_ms, 3)
        # Absent rather than null: smaller records, and null is what the canonical encoder double-checks.
        return {k: v for k, v in rec.items() if v is not None}
