"""Counters in Redis: one Lua script per decision, so instances never re-seed or race each other.

Every key of a call carries its tenant's hash tag (``{prefix:tenant}``), so the keys one script touches
live in one Redis Cluster slot. The script reads the server's clock (``TIME``) for rate limits, so
instances with skewed clocks still share one timeline.

A call's settlement goes out ahead of the next decision, in the same write (``RespClient.pipeline``): Redis
runs both and answers both in one reply, so settling costs no round trip, no system call and no wake-up of
its own. With no decision to carry it, it goes out on its own ``SETTLE_DELAY_SECONDS`` later.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import redis.asyncio as aioredis

from interlock.usage.counters import (
    SETTLE_DELAY_SECONDS,
    SETTLE_GIVE_UP_SECONDS,
    SETTLE_RETRY_SECONDS,
    Admission,
    BudgetCounter,
    RateCounter,
    RateState,
    Settlement,
    requeue,
)
from interlock.usage.resp import RedisError, RespClient, pack

# KEYS: the charge, then nb budget counters, then nr rate counters.
# ARGV: nb, nr, usd target, tokens target, charge ttl (s), rate tokens; then per budget counter its usd
# limit, token limit and expiry (Unix s); then per rate counter its kind ("r"/"t") and limit per minute.
ADMIT = """
local nb, nr = tonumber(ARGV[1]), tonumber(ARGV[2])
local usd, tok = tonumber(ARGV[3]), tonumber(ARGV[4])
local rate_tokens = tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rates = {}
local newtat = {}
for i = 1, nr do
  local j = 7 + nb * 3 + (i - 1) * 2
  local amount = 1
  if ARGV[j] == 't' then amount = rate_tokens end
  local limit = tonumber(ARGV[j + 1])
  local interval = 60000 / limit
  local tat = tonumber(redis.call('GET', KEYS[1 + nb + i]) or '0')
  if tat < now then tat = now end
  local nt = tat + amount * interval
  if nt - now > 60000 then
    local left = math.floor((60000 - (tat - now)) / interval)
    if left < 0 then left = 0 end
    return {2, i - 1, math.ceil(nt - now - 60000), left}
  end
  newtat[i] = nt
  rates[#rates + 1] = math.floor((60000 - (nt - now)) / interval)
  rates[#rates + 1] = math.floor(nt - now)
end
local e = redis.call('HMGET', KEYS[1], 'u', 't')
local cu, ct = tonumber(e[1] or '0'), tonumber(e[2] or '0')
local du, dt = math.max(0, usd - cu), math.max(0, tok - ct)
local used = {}
for i = 1, nb do
  local j = 7 + (i - 1) * 3
  local v = redis.call('HMGET', KEYS[1 + i], 'u', 't')
  local u, k = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  local lu, lt = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
  if (lu >= 0 and du > 0 and u + du > lu) or (lt >= 0 and dt > 0 and k + dt > lt) then
    return {0, i - 1, u, k}
  end
  used[#used + 1] = u + du
  used[#used + 1] = k + dt
end
for i = 1, nr do
  redis.call('SET', KEYS[1 + nb + i], string.format('%.3f', newtat[i]), 'PX', math.floor(newtat[i] - now) + 1000)
end
if nb > 0 then
  for i = 1, nb do
    local j = 7 + (i - 1) * 3
    if du > 0 then redis.call('HINCRBY', KEYS[1 + i], 'u', du) end
    if dt > 0 then redis.call('HINCRBY', KEYS[1 + i], 't', dt) end
    redis.call('EXPIREAT', KEYS[1 + i], ARGV[j + 2])
  end
  redis.call('HSET', KEYS[1], 'u', cu + du, 't', ct + dt)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
local out = {1, 0, cu, ct}
for _, x in ipairs(used) do out[#out + 1] = x end
for _, x in ipairs(rates) do out[#out + 1] = x end
return out
"""

# KEYS: the charge, then the budget counters. ARGV: usd, tokens, charge ttl (s). The charge is set to the
# real figures, never deleted: a settlement sent again (its first reply lost) finds them and adds nothing.
SETTLE = """
local e = redis.call('HMGET', KEYS[1], 'u', 't')
local cu, ct = tonumber(e[1] or '0'), tonumber(e[2] or '0')
local du, dt = tonumber(ARGV[1]) - cu, tonumber(ARGV[2]) - ct
for i = 2, #KEYS do
  if du ~= 0 then redis.call('HINCRBY', KEYS[i], 'u', du) end
  if dt ~= 0 then redis.call('HINCRBY', KEYS[i], 't', dt) end
end
redis.call('HSET', KEYS[1], 'u', ARGV[1], 't', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

log = logging.getLogger("interlock.usage")

_SHAS = {script: hashlib.sha1(script.encode()).hexdigest() for script in (ADMIT, SETTLE)}
# A settled charge under a request id (no retry can name it) is kept only as long as its settlement may be
# sent again.
_SETTLED_TTL = int(SETTLE_GIVE_UP_SECONDS) + 60


def _redirected(reply: RedisError) -> RedisError:
    """A Redis Cluster node redirects to the node that holds the slot: this client speaks to one endpoint."""
    return RedisError(f"{reply} (usage.counters_url names a Redis Cluster node; this client does not follow "
                      "cluster redirections: point it at a standalone Redis or a slot-aware proxy)")


def _settle_command(s: Settlement, full: bool = False) -> bytes:
    ttl = s.charge_ttl or _SETTLED_TTL
    keys = [s.charge, *(b.key for b in s.budgets)]
    if full:
        return pack("EVAL", SETTLE, len(keys), *keys, s.usd, s.tokens, ttl)
    return pack("EVALSHA", _SHAS[SETTLE], len(keys), *keys, s.usd, s.tokens, ttl)


class RedisCounters:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._url = url
        self._timeout = timeout_seconds
        # The hot path's two scripts go over the minimal client (resp.py); the rest over redis-py.
        self._fast = RespClient(url, timeout_seconds)
        self._redis: aioredis.Redis | None = None
        # Settlements waiting for the next decision (or the timer) to carry them.
        self._queued: list[Settlement] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        # Nothing to connect yet: a Redis that is down at start-up refuses budgeted calls (fail closed)
        # until it answers, rather than keeping the gateway from starting.
        return None

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            # No retries inside the client: a store that does not answer in time is down.
            self._redis = aioredis.Redis.from_url(self._url, socket_timeout=self._timeout,
                                                  socket_connect_timeout=self._timeout, retry_on_timeout=False)
        return self._redis

    async def close(self) -> None:
        await self.flush()
        self._disarm()
        if self._queued:
            log.error("closing the usage counters with %d budget settlements unsent (the counters keep their "
                      "reservations until `interlock budgets reconcile`)", len(self._queued))
            self._queued = []
        await self._fast.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        (reply,) = await self._fast.pipeline([self._evalsha(script, keys, args)])
        return await self._reply(script, keys, args, reply)

    @staticmethod
    def _evalsha(script: str, keys: list[str], args: list[Any]) -> bytes:
        return pack("EVALSHA", _SHAS[script], len(keys), *keys, *args)

    async def _reply(self, script: str, keys: list[str], args: list[Any], reply: Any) -> Any:
        if not isinstance(reply, RedisError):
            return reply
        if str(reply).startswith(("MOVED ", "ASK ")):
            raise _redirected(reply)
        if not str(reply).startswith("NOSCRIPT"):
            raise reply
        # The server does not know the script yet (or forgot it on a restart): EVAL runs and caches it.
        return await self._fast.call(pack("EVAL", script, len(keys), *keys, *args))

    async def _decide(self, keys: list[str], args: list[Any]) -> Any:
        """The decision script, with the queued settlements ahead of it in the same write."""
        if not self._queued:
            return await self._run(ADMIT, keys, args)
        batch, self._queued = self._queued, []
        self._disarm()
        try:
            replies = await self._fast.pipeline([*map(_settle_command, batch), self._evalsha(ADMIT, keys, args)])
        except Exception as exc:
            self._failed(batch, exc)
            raise
        self._settled(batch, replies[:-1])
        return await self._reply(ADMIT, keys, args, replies[-1])

    def _settled(self, batch: list[Settlement], replies: list[Any]) -> None:
        failed = [s for s, r in zip(batch, replies, strict=True) if isinstance(r, RedisError)]
        if not failed:
            return
        errors = sorted({str(r) for r in replies if isinstance(r, RedisError)})
        if any(e.startswith(("MOVED ", "ASK ")) for e in errors):
            errors = [str(_redirected(RedisError(errors[0])))]
        elif all(e.startswith("NOSCRIPT") for e in errors):
            # The server forgot the script (a restart): the first goes out as EVAL, which caches it for the rest.
            self._start(self._send(failed, load=True))
        else:
            self._failed(failed, RedisError("; ".join(errors)))

    def _failed(self, batch: list[Settlement], exc: BaseException) -> None:
        requeue(self._queued, batch, time.monotonic(), f"{type(exc).__name__}: {exc}")
        if self._queued:
            self._arm(SETTLE_RETRY_SECONDS)

    def _arm(self, delay: float) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._queued:
            batch, self._queued = self._queued, []
            self._start(self._send(batch))

    def _start(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Settlement], load: bool = False) -> None:
        commands = [_settle_command(batch[0], full=load), *map(_settle_command, batch[1:])]
        try:
            replies = await self._fast.pipeline(commands)
        except Exception as exc:
            self._failed(batch, exc)
            return
        if load:
            # Still refused with the script sent whole: not a missing script; no loop of reloads.
            failed = [s for s, r in zip(batch, replies, strict=True) if isinstance(r, RedisError)]
            if failed:
                self._failed(failed, RedisError("; ".join(sorted({str(r) for r in replies
                                                                   if isinstance(r, RedisError)}))))
            return
        self._settled(batch, replies)

    def settle_later(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        self._queued.append(Settlement(charge, budgets, usd, tokens, charge_ttl, time.monotonic()))
        self._arm(SETTLE_DELAY_SECONDS)

    async def flush(self) -> None:
        self._disarm()
        while self._sending:
            await asyncio.gather(*self._sending)
        if self._queued:
            batch, self._queued = self._queued, []
            await self._send(batch)
            while self._sending:
                await asyncio.gather(*self._sending)

    async def admit(self, charge: str, budgets: tuple[BudgetCounter, ...], rates: tuple[RateCounter, ...],
                    usd: int, tokens: int, rate_tokens: int, charge_ttl: int) -> Admission:
        keys = [charge, *(b.key for b in budgets), *(r.key for r in rates)]
        args: list[Any] = [len(budgets), len(rates), usd, tokens, charge_ttl, rate_tokens]
        for b in budgets:
            args += [b.usd_limit, b.token_limit, b.expire_at]
        for r in rates:
            args += ["t" if r.kind == "tokens" else "r", r.per_minute]
        out = [int(x) for x in await self._decide(keys, args)]
        if out[0] == 2:
            r = rates[out[1]]
            return Admission("rate", out[1], rates=(RateState(r.kind, r.per_minute, out[3], out[2]),),
                             retry_ms=out[2])
        if out[0] == 0:
            return Admission("budget", out[1], used=((out[2], out[3]),))
        n = len(budgets)
        used = tuple((out[4 + 2 * i], out[5 + 2 * i]) for i in range(n))
        base = 4 + 2 * n
        states = tuple(RateState(r.kind, r.per_minute, out[base + 2 * i], out[base + 2 * i + 1])
                       for i, r in enumerate(rates))
        return Admission("ok", used=used, rates=states, prior=(out[2], out[3]))

    async def settle(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        await self._run(SETTLE, [charge, *(b.key for b in budgets)], [usd, tokens, charge_ttl or _SETTLED_TTL])

    async def read(self, keys: tuple[str, ...]) -> list[tuple[int, int]]:
        client = self._client()
        out = []
        for key in keys:
            u, t = await asyncio.wait_for(client.hmget(key, ["u", "t"]), self._timeout)
            out.append((int(u or 0), int(t or 0)))
        return out

    async def overwrite(self, values: dict[str, tuple[int, int, int]]) -> None:
        client = self._client()
        for key, (u, t, expire_at) in values.items():
            # One key at a time: keys of different tenants may live on different cluster nodes.
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"u": u, "t": t})
                pipe.expireat(key, expire_at)
                await pipe.execute()
