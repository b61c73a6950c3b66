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
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions as aioredis_errors

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
from interlock.usage.resp import SLOTS, RedisError, RespClient, key_slot, pack, redirection

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
# Loaded on every new connection, so that a restarted server (or a cluster node seen for the first time)
# knows both scripts before the first settlement travels ahead of a decision; a NOSCRIPT reply remains
# possible (SCRIPT FLUSH on a live connection) and is handled with EVAL.
_LOAD = (pack("SCRIPT", "LOAD", ADMIT), pack("SCRIPT", "LOAD", SETTLE))
# A settled charge under a request id (no retry can name it) is kept only as long as its settlement may be
# sent again.
_SETTLED_TTL = int(SETTLE_GIVE_UP_SECONDS) + 60


def _settle_command(s: Settlement, full: bool = False) -> bytes:
    ttl = s.charge_ttl or _SETTLED_TTL
    keys = [s.charge, *(b.key for b in s.budgets)]
    if full:
        return pack("EVAL", SETTLE, len(keys), *keys, s.usd, s.tokens, ttl)
    return pack("EVALSHA", _SHAS[SETTLE], len(keys), *keys, s.usd, s.tokens, ttl)


# Redirections followed for one command before it counts as failed (a slot moving while it is sent).
_MAX_REDIRECTIONS = 3


class RedisCounters:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._url = url
        self._timeout = timeout_seconds
        # The hot path's two scripts go over the minimal client (resp.py); the rest over redis-py.
        self._fast = RespClient(url, timeout_seconds, _LOAD)
        self._redis: aioredis.Redis | aioredis.RedisCluster | None = None
        # A Redis Cluster: the node client of each hash slot, learnt from the first redirection (None: the URL's
        # server holds every key), and a client per node.
        self._slots: list[RespClient] | None = None
        self._nodes: dict[tuple[str, int], RespClient] = {}
        # Settlements waiting for the next decision (or the timer) to carry them.
        self._queued: list[Settlement] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        # Nothing to connect yet: a Redis that is down at start-up refuses budgeted calls (fail closed)
        # until it answers, rather than keeping the gateway from starting.
        return None

    def _client(self) -> aioredis.Redis | aioredis.RedisCluster:
        if self._redis is None:
            # No retries inside the client: a store that does not answer in time is down.
            options: dict[str, Any] = {"socket_timeout": self._timeout, "socket_connect_timeout": self._timeout}
            self._redis = (aioredis.RedisCluster.from_url(self._url, **options) if self._slots is not None else
                           aioredis.Redis.from_url(self._url, retry_on_timeout=False, **options))
        return self._redis

    async def close(self) -> None:
        await self.flush()
        self._disarm()
        if self._queued:
            log.error("closing the usage counters with %d budget settlements unsent (the counters keep their "
                      "reservations until `interlock budgets reconcile`)", len(self._queued))
            self._queued = []
        await self._fast.close()
        for node in self._nodes.values():
            await node.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # ---- Redis Cluster: each command goes to the node of its keys' slot (one slot per call: hash tags)

    def _node(self, key: str) -> RespClient:
        slots = self._slots
        return self._fast if slots is None else slots[key_slot(key)]

    def _node_at(self, host: str, port: int) -> RespClient:
        client = self._nodes.get((host, port))
        if client is None:
            parts = urlsplit(self._url)
            auth = parts.netloc.rpartition("@")[0]
            netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
            client = self._nodes[(host, port)] = RespClient(urlunsplit(parts._replace(netloc=netloc)), self._timeout,
                                                              _LOAD)
        return client

    async def _learn_slots(self, via: RespClient) -> None:
        """The slot map from a node that redirected (``CLUSTER SLOTS``: start, end, master, replicas...)."""
        reply = await via.call(pack("CLUSTER", "SLOTS"))
        slots = [self._fast] * SLOTS
        for start, end, master, *_ in reply:
            host = master[0].decode() if master[0] else (urlsplit(self._url).hostname or "127.0.0.1")
            client = self._node_at(host, int(master[1]))
            slots[int(start):int(end) + 1] = [client] * (int(end) - int(start) + 1)
        self._slots = slots
        if isinstance(self._redis, aioredis.Redis):
            # The reconciler's client too: redis-py's cluster client from now on.
            await self._redis.aclose()
            self._redis = None

    async def _follow(self, command: bytes, reply: Any) -> Any:
        """Follow a cluster redirection: ``MOVED`` (the slot lives elsewhere: learn the new map, send it
        there) or ``ASK`` (the slot is migrating: ask the target once). Anything else is returned as is."""
        for _ in range(_MAX_REDIRECTIONS):
            where = redirection(reply)
            if where is None:
                return reply
            kind, host, port = where
            target = self._node_at(host, port)
            if kind == "MOVED":
                await self._learn_slots(target)
                (reply,) = await target.pipeline([command])
            else:
                _, reply = await target.pipeline([pack("ASKING"), command])
        return reply

    async def _routed(self, key: str, command: bytes) -> Any:
        (reply,) = await self._node(key).pipeline([command])
        return await self._follow(command, reply)

    # ---- the scripts

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        command = self._evalsha(script, keys, args)
        return await self._reply(script, keys, args, await self._routed(keys[0], command))

    @staticmethod
    def _evalsha(script: str, keys: list[str], args: list[Any]) -> bytes:
        return pack("EVALSHA", _SHAS[script], len(keys), *keys, *args)

    async def _reply(self, script: str, keys: list[str], args: list[Any], reply: Any) -> Any:
        if not isinstance(reply, RedisError):
            return reply
        if not str(reply).startswith("NOSCRIPT"):
            raise reply
        # The server does not know the script yet (or forgot it on a restart): EVAL runs and caches it.
        reply = await self._routed(keys[0], pack("EVAL", script, len(keys), *keys, *args))
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def _decide(self, keys: list[str], args: list[Any]) -> Any:
        """The decision script, with the queued settlements of its node ahead of it in the same write."""
        if not self._queued:
            return await self._run(ADMIT, keys, args)
        batch, self._queued = self._queued, []
        self._disarm()
        node = self._node(keys[0])
        if self._slots is not None:
            others = [s for s in batch if self._node(s.charge) is not node]
            if others:
                self._start(self._send(others))
                batch = [s for s in batch if self._node(s.charge) is node]
            if not batch:
                return await self._run(ADMIT, keys, args)
        command = self._evalsha(ADMIT, keys, args)
        try:
            replies = await node.pipeline([*map(_settle_command, batch), command])
        except Exception as exc:
            self._failed(batch, exc)
            raise
        self._settled(batch, replies[:-1])
        return await self._reply(ADMIT, keys, args, await self._follow(command, replies[-1]))

    def _settled(self, batch: list[Settlement], replies: list[Any]) -> None:
        failed = [s for s, r in zip(batch, replies, strict=True) if isinstance(r, RedisError)]
        if not failed:
            return
        errors = sorted({str(r) for r in replies if isinstance(r, RedisError)})
        if all(e.startswith("NOSCRIPT") for e in errors):
            # The server forgot the script (a restart): the first goes out as EVAL, which caches it for the rest.
            self._start(self._send(failed, load=True))
        elif any(redirection(r) for r in replies):
            # A slot moved: learn where, then send them again, each to its node.
            self._start(self._redirect(failed, next(w for r in replies if (w := redirection(r)))))
        else:
            self._failed(failed, RedisError("; ".join(errors)))

    async def _redirect(self, batch: list[Settlement], where: tuple[str, str, int]) -> None:
        try:
            await self._learn_slots(self._node_at(where[1], where[2]))
        except Exception as exc:
            self._failed(batch, exc)
            return
        await self._send(batch, redirected=True)

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

    async def _send(self, batch: list[Settlement], load: bool = False, redirected: bool = False) -> None:
        """Send settlements, each node's in one write. ``load``: the first of each goes as EVAL (the script
        was missing); ``redirected``: they were redirected once already (failing again, they wait)."""
        groups: dict[RespClient, list[Settlement]] = {}
        for s in batch:
            groups.setdefault(self._node(s.charge), []).append(s)
        for node, group in groups.items():
            commands = [_settle_command(group[0], full=load), *map(_settle_command, group[1:])]
            try:
                replies = await node.pipeline(commands)
            except Exception as exc:
                self._failed(group, exc)
                continue
            if load or redirected:
                # Still refused with the script sent whole, or redirected again: no loop of retries here.
                failed = [s for s, r in zip(group, replies, strict=True) if isinstance(r, RedisError)]
                if failed:
                    self._failed(failed, RedisError("; ".join(sorted({str(r) for r in replies
                                                                       if isinstance(r, RedisError)}))))
                continue
            self._settled(group, replies)

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
        out = []
        for key in keys:
            u, t = await self._off_path(lambda c, k=key: c.hmget(k, ["u", "t"]))  # type: ignore[misc]
            out.append((int(u or 0), int(t or 0)))
        return out

    async def overwrite(self, values: dict[str, tuple[int, int, int]]) -> None:
        for key, (u, t, expire_at) in values.items():
            # One key at a time: keys of different tenants may live on different cluster nodes.
            async def write(client: Any, key: str = key, u: int = u, t: int = t, expire_at: int = expire_at) -> Any:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.hset(key, mapping={"u": u, "t": t})
                    pipe.expireat(key, expire_at)
                    return await pipe.execute()

            await self._off_path(write)

    async def _off_path(self, op: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``op`` over redis-py; a Redis Cluster node's redirection switches to redis-py's cluster client."""
        try:
            return await asyncio.wait_for(op(self._client()), self._timeout)
        except (aioredis_errors.MovedError, aioredis_errors.AskError):
            if self._slots is not None:
                raise
        except aioredis_errors.ResponseError as exc:
            if self._slots is not None or not str(exc).startswith(("MOVED ", "ASK ")):
                raise
        await self._learn_slots(self._fast)
        return await asyncio.wait_for(op(self._client()), self._timeout)
