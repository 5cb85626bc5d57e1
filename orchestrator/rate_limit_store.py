"""Where the public API's limits are counted: one Lua script in Redis, or this process while Redis is down.

A request is checked against token buckets (requests per second) and, for a chat turn, slot
sets (concurrent turns) in ONE round trip: the script refills each bucket from the time of its
last use, refuses on the first limit that is out (taking nothing from the others), else takes a
token from every bucket and adds the turn's lease to every slot set. A lease is a member of a
sorted set scored by its expiry; the holder renews it while the turn runs and removes it when
the turn ends, and anything past its expiry is dropped by the next admission, so slots of a
crashed replica come back after one lease. Time is Redis's own (``TIME``), so replicas with
skewed clocks share one budget.

:class:`LocalLimits` does the same arithmetic in memory for a process whose Redis is
unreachable: limits then hold per replica instead of across them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis

V = TypeVar("V")

# KEYS: the buckets, then the slot sets. ARGV: number of buckets, (rate per s, capacity) per bucket,
# lease id, lease ms, then the limit of each slot set. Returns {0, 0} when admitted, else
# {position of the refusing key (1-based), milliseconds until it could admit}.
ADMIT_LUA = """
local nb = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local levels = {}
for i = 1, nb do
  local rate, cap = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level = cap
  if v[1] then
    level = math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * rate / 1000)
  end
  if level < 1 then
    return {i, math.ceil((1 - level) * 1000 / rate)}
  end
  levels[i] = level
end
local base = 2 * nb + 2
local lease, lease_ms = ARGV[base], tonumber(ARGV[base + 1])
for j = nb + 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now)
  if redis.call('ZCARD', KEYS[j]) >= tonumber(ARGV[base + 1 + j - nb]) then
    return {j, 1000}
  end
end
for j = nb + 1, #KEYS do
  redis.call('ZADD', KEYS[j], now + lease_ms, lease)
  redis.call('PEXPIRE', KEYS[j], lease_ms)
end
for i = 1, nb do
  local rate, cap = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 'tokens', levels[i] - 1, 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(cap * 1000 / rate) + 1000)
end
return {0, 0}
"""

# KEYS: the lease's slot sets; ARGV: lease id, lease ms. Only a lease still present is extended
# (XX): one that expired meanwhile may have been given to another turn.
RENEW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class Bucket:
    """A token bucket: ``rate`` tokens a second up to ``capacity``; a request takes one."""

    key: str
    rate: float
    capacity: float


@dataclass(frozen=True)
class Slots:
    """At most ``limit`` leases at once in the set at ``key``."""

    key: str
    limit: int


@dataclass(frozen=True)
class Check:
    """What one request is held to: every bucket, and for a turn every slot set (lease ``lease``)."""

    buckets: tuple[Bucket, ...]
    slots: tuple[Slots, ...] = ()
    lease: str = ""
    lease_s: float = 30.0

    @property
    def keys(self) -> list[str]:
        return [b.key for b in self.buckets] + [s.key for s in self.slots]


@dataclass(frozen=True)
class Refusal:
    """The limit that said no (its position in ``Check.keys``) and when it could say yes."""

    position: int
    retry_after_s: float


class RedisLimits:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._admit = redis.register_script(ADMIT_LUA)
        self._renew = redis.register_script(RENEW_LUA)

    async def admit(self, check: Check) -> Refusal | None:
        args: list[str | int | float] = [len(check.buckets)]
        for bucket in check.buckets:
            args += [repr(bucket.rate), repr(bucket.capacity)]
        args += [check.lease or "-", math.ceil(check.lease_s * 1000)]
        args += [slots.limit for slots in check.slots]
        position, wait_ms = await self._admit(keys=check.keys, args=args)
        return None if int(position) == 0 else Refusal(int(position) - 1, int(wait_ms) / 1000)

    async def renew(self, checks: list[Check]) -> None:
        """Extend the leases of ``checks`` (one pipelined round trip for all of them)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for check in checks:
                keys = [s.key for s in check.slots]
                await self._renew(keys=keys, args=[check.lease, math.ceil(check.lease_s * 1000)], client=pipe)
            await pipe.execute()

    async def release(self, check: Check) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for slots in check.slots:
                pipe.zrem(slots.key, check.lease)
            await pipe.execute()

    async def in_use(self, key: str) -> int:
        """Leases in a slot set that have not expired (for status and tests)."""
        now_s, now_us = await self.redis.time()
        return int(await self.redis.zcount(key, now_s * 1000 + now_us // 1000 + 1, "+inf"))


class LocalLimits:
    """The script's arithmetic in this process, for while Redis cannot be reached.

    Bounded: the least recently used buckets and slot sets beyond ``max_entries`` are forgotten
    (a forgotten bucket starts full again, a forgotten slot set empty).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._slots: OrderedDict[str, dict[str, float]] = OrderedDict()  # key -> lease -> expires at

    def admit(self, check: Check) -> Refusal | None:
        now = time.monotonic()
        levels = []
        for position, bucket in enumerate(check.buckets):
            tokens, at = self._buckets.get(bucket.key, (bucket.capacity, now))
            level = min(bucket.capacity, tokens + max(0.0, now - at) * bucket.rate)
            if level < 1:
                return Refusal(position, (1 - level) / bucket.rate)
            levels.append(level)
        for position, slots in enumerate(check.slots, start=len(check.buckets)):
            if len(self._live(slots.key, now)) >= slots.limit:
                return Refusal(position, 1.0)
        for slots in check.slots:
            self._live(slots.key, now)[check.lease] = now + check.lease_s
            self._touch(self._slots, slots.key)
        for bucket, level in zip(check.buckets, levels, strict=True):
            self._buckets[bucket.key] = (level - 1, now)
            self._touch(self._buckets, bucket.key)
        return None

    def renew(self, checks: list[Check]) -> None:
        now = time.monotonic()
        for check in checks:
            for slots in check.slots:
                leases = self._live(slots.key, now)
                if check.lease in leases:
                    leases[check.lease] = now + check.lease_s

    def release(self, check: Check) -> None:
        for slots in check.slots:
            self._slots.get(slots.key, {}).pop(check.lease, None)

    def in_use(self, key: str) -> int:
        return len(self._live(key, time.monotonic()))

    def _live(self, key: str, now: float) -> dict[str, float]:
        leases = self._slots.setdefault(key, {})
        for lease in [lease for lease, expires in leases.items() if expires <= now]:
            del leases[lease]
        return leases

    def _touch(self, entries: OrderedDict[str, V], key: str) -> None:
        entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
