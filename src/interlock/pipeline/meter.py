"""What a call costs, and the budgets and rate limits it counts against.

``AdmitUsage`` (stage ``usage``, after parse) takes one decision over every counter the call touches: a
request and its tokens off each rate limit, and its worst case (input plus the output bound, at the
model's price) reserved in each budget. ``MeterStream`` (stage ``meter``, after forward) makes a stream
extend its reservation as its text arrives, and cuts it with a final error event when a budget has no room
left. ``Meter.finish`` runs when every call ends, answered, refused or cut: it prices the usage (the
upstream's, or the gateway's own count where it gave none) and queues the settlement of the reservation at
the real cost, which releases the rest; the counter store sends it with its next decision (see
``usage/counters.py``), so the answer waits for one round trip to the counters, the decision. Without budgets or rate limits neither stage is in the pipeline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from interlock.errors import BudgetExceeded, BudgetUnavailable, RateLimited, RateLimitUnavailable
from interlock.pipeline.authorize import EMBEDDINGS_ENDPOINT, requested_tokens
from interlock.pipeline.call import Call
from interlock.settings import UsageSettings
from interlock.usage.counters import Admission, RateState
from interlock.usage.limits import CountersDown, Plan, Subject, UsageLimits, charge_id
from interlock.usage.prices import NANO, Price, Prices
from interlock.usage.tokens import input_bound, text_chars, tokens_of_chars

log = logging.getLogger("interlock.usage")


@dataclass(slots=True)
class Charge:
    """A call's reservation: what it holds in its budgets, and what it may grow to."""

    plan: Plan
    price: Price | None
    input_tokens: int
    max_output: int
    output_reserved: int
    prior: tuple[int, int]
    # Budget fractions spent after this call's reservation, by scope/id/window (the policy reads them).
    spent: dict[str, float]

    def amounts(self, output: int) -> tuple[int, int]:
        usd = self.price.cost_nano(self.input_tokens, output) if self.price is not None else 0
        return usd, self.input_tokens + output

    def record(self) -> dict[str, Any]:
        return {"counters": list(self.plan.budget_names), "charge": self.plan.charge.rsplit(":", 1)[-1],
                "spent_percent": min(100, math.floor(max(self.spent.values(), default=0.0) * 100))}


def duration(ms: int) -> str:
    """A duration as OpenAI's x-ratelimit-reset-* headers write it: ``20ms``, ``1.5s``, ``6m0s``."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


# The header names, per kind of rate counter: built once, not per call.
_RATE_HEADER_NAMES = {kind: (f"x-ratelimit-limit-{kind}".encode(), f"x-ratelimit-remaining-{kind}".encode(),
                             f"x-ratelimit-reset-{kind}".encode()) for kind in ("requests", "tokens")}


def rate_headers(states: tuple[RateState, ...]) -> list[tuple[bytes, bytes]]:
    """x-ratelimit-{limit,remaining,reset}-{requests,tokens}: the tightest counter of each kind (the fewest
    remaining, then the latest reset)."""
    tightest: dict[str, RateState] = {}
    for s in states:
        t = tightest.get(s.kind)
        if t is None or s.remaining < t.remaining or (s.remaining == t.remaining and s.reset_ms > t.reset_ms):
            tightest[s.kind] = s
    out: list[tuple[bytes, bytes]] = []
    for kind in ("requests", "tokens"):
        tight = tightest.get(kind)
        if tight is None:
            continue
        limit, remaining, reset = _RATE_HEADER_NAMES[kind]
        out += [(limit, b"%d" % tight.limit), (remaining, b"%d" % max(tight.remaining, 0)),
                (reset, duration(tight.reset_ms).encode())]
    return out


class AdmitUsage:
    name = "usage"

    def __init__(self, limits: UsageLimits, prices: Prices, settings: UsageSettings) -> None:
        self._limits = limits
        self._prices = prices
        self._default_output = settings.default_max_output_tokens
        self._extension = settings.stream_extension_tokens
        self._fail_open = settings.rate_limit_fail_mode == "open"

    async def __call__(self, call: Call) -> None:
        assert call.principal is not None
        p = call.principal
        subject = Subject(call.tenant, call.key_id, p.id, p.groups, call.app.id if call.app else "",
                          call.use_case_name)
        plan = self._limits.plan(subject, charge_id(call.request_id, call.headers.get("idempotency-key"), p.id))
        if not plan.budgets and not plan.rates:
            return
        price = self._prices.of(call.model_alias)
        input_tokens = input_bound(call.raw_body)
        # Embeddings produce no output tokens; a chat call may produce up to its bound.
        embedding = call.endpoint == EMBEDDINGS_ENDPOINT
        max_output = 0 if embedding else requested_tokens(call.body) or self._default_output
        reserved = min(max_output, self._extension) if call.stream else max_output
        usd = price.cost_nano(input_tokens, reserved) if price is not None else 0
        try:
            admission = await self._limits.admit(plan, usd, input_tokens + reserved, input_tokens + max_output)
        except CountersDown as exc:
            if plan.budgets:
                log.error("budget counters unavailable, refusing %s: %s", call.request_id, exc)
                raise BudgetUnavailable(f"Budgets cannot be checked right now, so the call was refused; try again "
                                        f"shortly (request {call.request_id}).") from None
            if not self._fail_open:
                log.error("rate-limit counters unavailable, refusing %s: %s", call.request_id, exc)
                raise RateLimitUnavailable(f"Rate limits cannot be checked right now, so the call was refused; "
                                           f"try again shortly (request {call.request_id}).") from None
            log.warning("rate-limit counters unavailable, letting %s through unlimited (fail open): %s",
                        call.request_id, exc)
            return
        if admission.outcome == "rate":
            raise self._rate_limited(plan, admission)
        if admission.outcome == "budget":
            raise self._over_budget(plan, admission, call)
        # What was spent before this call: the counters less what this decision added to them.
        added_usd, added_tokens = max(0, usd - admission.prior[0]), max(0, input_tokens + reserved - admission.prior[1])
        spent = {}
        for name, counter, (u, t) in zip(plan.budget_names, plan.budgets, admission.used, strict=True):
            fractions = [(u - added_usd) / counter.usd_limit if counter.usd_limit > 0 else 0.0,
                         (t - added_tokens) / counter.token_limit if counter.token_limit > 0 else 0.0]
            spent[name] = max(0.0, *fractions)
        if plan.budgets:
            call.charge = Charge(plan, price, input_tokens, max_output, reserved, admission.prior, spent)
            call.budget_spent_percent = min(100, math.floor(max(spent.values()) * 100))
        if admission.rates:
            call.response_headers = rate_headers(admission.rates)
            call.rate_remaining_percent = max(0, min(math.floor(s.remaining * 100 / s.limit) for s in admission.rates))

    def _rate_limited(self, plan: Plan, admission: Admission) -> RateLimited:
        state = admission.rates[0]
        retry_s = max(1, math.ceil(admission.retry_ms / 1000))
        headers = (*rate_headers(admission.rates), (b"retry-after", str(retry_s).encode()),
                   (b"retry-after-ms", str(admission.retry_ms).encode()))
        who = plan.rate_names[admission.index]
        return RateLimited(f"Rate limit reached for {who}: {state.limit} {state.kind} per minute. "
                           f"Try again in {duration(admission.retry_ms)}.", headers,
                           type="tokens" if state.kind == "tokens" else "requests")

    def _over_budget(self, plan: Plan, admission: Admission, call: Call) -> BudgetExceeded:
        name = plan.budget_names[admission.index]
        counter = plan.budgets[admission.index]
        u, t = admission.used[0]
        parts = []
        if counter.usd_limit >= 0:
            parts.append(f"${u / NANO:.4f} of ${counter.usd_limit / NANO:.2f} spent")
        if counter.token_limit >= 0:
            parts.append(f"{t} of {counter.token_limit} tokens used")
        scope, ident, window = name.split("/", 2)
        return BudgetExceeded(f"The {window} budget of {scope} {ident!r} has no room for this call "
                              f"({', '.join(parts)}, counting calls under way). Lower max_tokens, wait for "
                              f"the next {window}, or ask an administrator to raise the budget "
                              f"(request {call.request_id}).")


class MeterStream:
    """Stage ``meter``: a budgeted stream extends its reservation as text arrives, or is cut."""

    name = "meter"

    def __init__(self, limits: UsageLimits, settings: UsageSettings) -> None:
        self._limits = limits
        self._extension = settings.stream_extension_tokens

    async def __call__(self, call: Call) -> None:
        if call.stream_iter is not None and call.charge is not None:
            call.stream_iter = self._metered(call, call.stream_iter)

    async def _metered(self, call: Call, stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        charge: Charge = call.charge
        async for chunk in stream:
            produced = tokens_of_chars(call.streamed_chars)
            if produced > charge.output_reserved:
                target = max(produced, charge.output_reserved + self._extension)
                if produced <= charge.max_output:
                    target = min(target, charge.max_output)
                usd, tokens = charge.amounts(target)
                try:
                    admission = await self._limits.extend(charge.plan, usd, tokens)
                except CountersDown as exc:
                    log.error("budget counters unavailable mid-stream, cutting %s: %s", call.request_id, exc)
                    raise BudgetUnavailable(f"Budgets cannot be checked right now, so the stream was cut "
                                            f"(request {call.request_id}).") from None
                if admission.outcome != "ok":
                    name = charge.plan.budget_names[admission.index]
                    scope, ident, window = name.split("/", 2)
                    raise BudgetExceeded(f"The {window} budget of {scope} {ident!r} ran out during this answer, "
                                         f"so it was cut here (request {call.request_id}).")
                charge.output_reserved = target
            yield chunk


class Meter:
    """Prices every call when it ends, and settles its reservation (``Pipeline.finish`` calls it)."""

    def __init__(self, prices: Prices, limits: UsageLimits | None) -> None:
        self._prices = prices
        self._limits = limits

    def finish(self, call: Call) -> None:
        """Price the call (its record carries the cost) and queue the settlement of its charge, if it has
        one: the answer never waits for the counters after the call."""
        reached = bool(call.provider) or call.streamed_chars > 0
        usage = call.usage
        if reached and usage.prompt_tokens == 0 and usage.completion_tokens == 0:
            self._count_locally(call)
        price = self._prices.of(call.model_alias)
        if price is not None and call.model_alias:
            call.cost_nano = price.cost_nano(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            call.price_version = self._prices.version
        charge: Charge | None = call.charge
        if charge is None or self._limits is None:
            return
        if reached:
            usd, tokens = call.cost_nano or 0, usage.total_tokens
        else:
            # Never reached the model: give back this attempt's reservation (a retry's earlier charge stays).
            usd, tokens = charge.prior
        self._limits.settle_later(charge.plan, usd, tokens)

    @staticmethod
    def _count_locally(call: Call) -> None:
        body = call.body
        source = body.get("messages") if call.endpoint != EMBEDDINGS_ENDPOINT else body.get("input")
        call.usage.prompt_tokens = tokens_of_chars(text_chars(source))
        if call.response is not None and call.endpoint != EMBEDDINGS_ENDPOINT:
            out = sum(text_chars(c.get("message")) for c in call.response.get("choices") or () if isinstance(c, dict))
            call.usage.completion_tokens = tokens_of_chars(out)
        else:
            call.usage.completion_tokens = tokens_of_chars(call.streamed_chars)
        call.usage.estimated = True
