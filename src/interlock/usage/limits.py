"""Budgets and rate limits as the settings declare them, turned into counter keys for one call.

A call's keys all carry its tenant's hash tag, so one Lua script decides over all of them in one Redis
Cluster slot. A budget counter is named by its scope, the scope's id and its window (``d20261206``,
``m202612``, UTC); a rate counter by its scope, id and kind. The store is reached through
``CounterStore``; a store that fails or does not answer in time is reported as ``CountersDown``, which the
caller turns into a refusal (budgets always fail closed).
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from interlock.settings import BudgetSettings, UsageSettings
from interlock.usage.counters import UNLIMITED, Admission, BudgetCounter, CounterStore, RateCounter
from interlock.usage.prices import NANO

# The charge id of a call that sent an Idempotency-Key (others are "r" and the request id).
IDEMPOTENT_PREFIX = "i"
# Subjects whose counter keys are kept (past it, the cache starts again).
_MAX_SHAPES = 10_000
# Seconds a budget counter outlives its window (a call that starts before midnight settles after it).
_GRACE_SECONDS = 86400


class CountersDown(Exception):
    """The counter store failed or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a call counts against, by scope."""

    tenant: str
    key: str = ""
    principal: str = ""
    groups: frozenset[str] = frozenset()
    app: str = ""
    use_case: str = ""

    def ids(self, scope: str) -> Iterable[str]:
        if scope == "group":
            return sorted(self.groups)
        value: str = getattr(self, scope)
        return (value,) if value else ()


@dataclass(frozen=True, slots=True)
class Plan:
    """The counters one call touches: the budgets (with the scope/id each counts, for the record), the
    rate limits, and the key its charge is remembered under."""

    budgets: tuple[BudgetCounter, ...]
    budget_names: tuple[str, ...]
    budget_rules: tuple[BudgetSettings, ...]
    rates: tuple[RateCounter, ...]
    rate_names: tuple[str, ...]
    charge: str
    # How long the charge is remembered once settled: a charge under a request id need not be (no retry can
    # carry the gateway's own id); one under an idempotency key is, for its retries.
    settled_ttl: int = 0


# A subject's counters: its Plan without the charge, and its tenant's hash tag.
_Shape = tuple[tuple[BudgetCounter, ...], tuple[str, ...], tuple[BudgetSettings, ...], tuple[RateCounter, ...],
               tuple[str, ...], str]


def window_of(window: str, now: float) -> tuple[str, int, int]:
    """The window's id, its start and its end (Unix seconds, UTC)."""
    t = time.gmtime(now)
    if window == "day":
        start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
        return f"d{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}", start, start + 86400
    start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return f"m{t.tm_year:04d}{t.tm_mon:02d}", start, calendar.timegm((year, month, 1, 0, 0, 0))


def _safe(value: str) -> str:
    # Braces would end the hash tag early; a colon would blur the key's parts.
    return value.replace("%", "%25").replace("{", "%7B").replace("}", "%7D").replace(":", "%3A")


class UsageLimits:
    """Budgets and rate limits over one counter store. Built once from the settings."""

    def __init__(self, settings: UsageSettings, store: CounterStore) -> None:
        self.settings = settings
        self.store = store
        self._prefix = settings.key_prefix
        self._budgets = settings.budgets
        self._rates = settings.rate_limits
        self._charge_ttl = int(settings.charge_ttl_seconds)
        # A subject's counters for a UTC day (month windows turn over at a day's turn too): the keys are
        # built once per subject and day, not per call.
        self._shapes: dict[tuple[Subject, int], _Shape] = {}

    def tag(self, tenant: str) -> str:
        return "{" + self._prefix + ":" + _safe(tenant) + "}"

    def budget_key(self, tenant: str, scope: str, ident: str, window_id: str) -> str:
        return f"{self.tag(tenant)}:b:{scope}:{_safe(ident)}:{window_id}"

    def plan(self, subject: Subject, charge_id: str, now: float | None = None) -> Plan:
        now = time.time() if now is None else now
        cache_key = (subject, int(now // 86400))
        shape = self._shapes.get(cache_key)
        if shape is None:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[cache_key] = self._shape(subject, now)
        budgets, names, rules, rates, rate_names, tag = shape
        settled_ttl = self._charge_ttl if charge_id.startswith(IDEMPOTENT_PREFIX) else 0
        return Plan(budgets, names, rules, rates, rate_names, f"{tag}:c:{_safe(charge_id)}", settled_ttl)

    def _shape(self, subject: Subject, now: float) -> _Shape:
        budgets: list[BudgetCounter] = []
        names: list[str] = []
        rules: list[BudgetSettings] = []
        for rule in self._budgets:
            window_id, _, end = window_of(rule.window, now)
            for ident in subject.ids(rule.scope):
                if rule.match != "*" and rule.match != ident:
                    continue
                budgets.append(BudgetCounter(
                    self.budget_key(subject.tenant, rule.scope, ident, window_id),
                    round(rule.usd * NANO) if rule.usd is not None else UNLIMITED,
                    rule.tokens if rule.tokens is not None else UNLIMITED, end + _GRACE_SECONDS))
                names.append(f"{rule.scope}/{ident}/{rule.window}")
                rules.append(rule)
        rates: list[RateCounter] = []
        rate_names: list[str] = []
        tag = self.tag(subject.tenant)
        for limit in self._rates:
            for ident in subject.ids(limit.scope):
                if limit.match != "*" and limit.match != ident:
                    continue
                for kind, per_minute in (("requests", limit.requests_per_minute), ("tokens", limit.tokens_per_minute)):
                    if per_minute is not None:
                        rates.append(RateCounter(f"{tag}:r:{kind[0]}:{limit.scope}:{_safe(ident)}", kind,  # type: ignore[arg-type]
                                                 per_minute))
                        rate_names.append(f"{limit.scope}/{ident}")
        return (tuple(budgets), tuple(names), tuple(rules), tuple(rates), tuple(rate_names), tag)

    async def admit(self, plan: Plan, usd: int, tokens: int, rate_tokens: int) -> Admission:
        try:
            return await self.store.admit(plan.charge, plan.budgets, plan.rates, usd, tokens, rate_tokens,
                                          self._charge_ttl)
        except Exception as exc:
            raise CountersDown(f"{type(exc).__name__}: {exc}") from exc

    async def extend(self, plan: Plan, usd: int, tokens: int) -> Admission:
        """Raise a charge (a stream that goes on); rate limits are not taken again."""
        try:
            return await self.store.admit(plan.charge, plan.budgets, (), usd, tokens, 0, self._charge_ttl)
        except Exception as exc:
            raise CountersDown(f"{type(exc).__name__}: {exc}") from exc

    async def settle(self, plan: Plan, usd: int, tokens: int) -> None:
        try:
            await self.store.settle(plan.charge, plan.budgets, usd, tokens, plan.settled_ttl)
        except Exception as exc:
            raise CountersDown(f"{type(exc).__name__}: {exc}") from exc

    def settle_later(self, plan: Plan, usd: int, tokens: int) -> None:
        """Settle without waiting (the call's answer does not wait for it): the store sends it with its next
        decision, or on its own shortly after, and tries again if it fails."""
        self.store.settle_later(plan.charge, plan.budgets, usd, tokens, plan.settled_ttl)


def charge_id(request_id: str, idempotency_key: str | None, principal: str) -> str:
    """The charge a call is counted under: the caller's Idempotency-Key (per principal, so two callers'
    keys never collide), else the request id."""
    if idempotency_key:
        digest = hashlib.sha256(f"{principal}\x00{idempotency_key}".encode()).hexdigest()[:32]
        return IDEMPOTENT_PREFIX + digest
    return "r" + request_id


def open_counters(settings: UsageSettings) -> CounterStore:
    url = settings.counters_url
    if url.startswith("sqlite:///"):
        from interlock.usage.sqlite_counters import SqliteCounters

        return SqliteCounters(url[len("sqlite:///"):], settings.timeout_seconds)
    from interlock.usage.redis_counters import RedisCounters

    return RedisCounters(url, settings.timeout_seconds)


def rule_of(plan: Plan, index: int) -> tuple[str, BudgetSettings]:
    return plan.budget_names[index], plan.budget_rules[index]


def describe(rule: BudgetSettings) -> dict[str, Any]:
    out: dict[str, Any] = {"scope": rule.scope, "window": rule.window}
    if rule.usd is not None:
        out["usd"] = rule.usd
    if rule.tokens is not None:
        out["tokens"] = rule.tokens
    return out
