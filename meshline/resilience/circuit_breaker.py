"""Circuit breaker per target service, its state shared through Redis by every replica.

Closed: calls flow and outcomes are counted in a sliding window of one-second buckets. When
at least ``min_calls`` happened in the window and the failure rate reaches ``failure_rate``,
the breaker opens: calls are rejected at once (503 + Retry-After) until ``cooldown_s`` has
passed. Then it half-opens: up to ``half_open_probes`` calls go through; a successful probe
closes it, a failed one opens it again.

The state machine is written once, here, over a small store interface. The Redis store makes
all orchestrator replicas agree; when Redis is unreachable each process carries on with its
local store and returns to the shared state as soon as Redis answers again. No library fit:
pybreaker's Redis storage is synchronous and counts consecutive failures rather than a rate,
aiobreaker keeps state per process (DESIGN.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from meshline.errors import DeadlineExceeded, MeshlineError, ServiceUnavailable
from meshline.resilience.clock import SYSTEM_CLOCK, Clock
from meshline.resilience.metrics import ResilienceMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    window_s: int = 30
    min_calls: int = 10
    failure_rate: float = 0.5
    cooldown_s: float = 10.0
    half_open_probes: int = 1


@dataclass(frozen=True)
class StateRecord:
    state: BreakerState = BreakerState.CLOSED
    opened_at: float = 0.0


class CircuitOpen(ServiceUnavailable):
    code, title = "circuit_open", "Circuit open"


class BreakerStore(Protocol):
    """Primitive, individually atomic operations; the policy lives in CircuitBreaker."""

    async def read(self, target: str) -> StateRecord: ...
    async def write(self, target: str, record: StateRecord) -> None: ...
    async def claim_probe(self, target: str) -> int: ...
    async def count(self, target: str, ok: bool, now: float, window_s: int) -> tuple[int, int]: ...


class LocalBreakerStore:
    """This process's own view: used alone in tests, and whenever Redis is unreachable."""

    def __init__(self) -> None:
        self._states: dict[str, StateRecord] = {}
        self._probes: dict[str, int] = {}
        self._buckets: dict[str, dict[int, tuple[int, int]]] = {}

    async def read(self, target: str) -> StateRecord:
        return self._states.get(target, StateRecord())

    async def write(self, target: str, record: StateRecord) -> None:
        self._states[target] = record
        self._probes[target] = 0
        if record.state is BreakerState.CLOSED:
            self._buckets.pop(target, None)

    async def claim_probe(self, target: str) -> int:
        self._probes[target] = self._probes.get(target, 0) + 1
        return self._probes[target]

    async def count(self, target: str, ok: bool, now: float, window_s: int) -> tuple[int, int]:
        buckets = self._buckets.setdefault(target, {})
        second = int(now)
        calls, failures = buckets.get(second, (0, 0))
        buckets[second] = (calls + 1, failures + (0 if ok else 1))
        for old in [s for s in buckets if s <= second - window_s]:
            del buckets[old]
        return sum(c for c, _ in buckets.values()), sum(f for _, f in buckets.values())


class RedisBreakerStore:
    """Shared state: ``meshline:breaker:<target>`` hash plus one counter hash per second."""

    def __init__(self, redis: Redis, prefix: str = "meshline:breaker") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, target: str, suffix: str = "") -> str:
        return f"{self.prefix}:{target}{suffix}"

    async def read(self, target: str) -> StateRecord:
        raw = await self.redis.hgetall(self._key(target))
        if not raw:
            return StateRecord()
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return StateRecord(BreakerState(fields.get("state", "closed")), float(fields.get("opened_at", 0.0)))

    async def write(self, target: str, record: StateRecord) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(target), mapping={"state": record.state.value, "opened_at": record.opened_at})
            pipe.delete(self._key(target, ":probes"))
            await pipe.execute()

    async def claim_probe(self, target: str) -> int:
        return int(await self.redis.incr(self._key(target, ":probes")))

    async def count(self, target: str, ok: bool, now: float, window_s: int) -> tuple[int, int]:
        second = int(now)
        bucket = self._key(target, f":w:{second}")
        keys = [self._key(target, f":w:{s}") for s in range(second - window_s + 1, second + 1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(bucket, "calls", 1)
            if not ok:
                pipe.hincrby(bucket, "failures", 1)
            pipe.expire(bucket, window_s + 1)
            for key in keys:
                pipe.hmget(key, "calls", "failures")
            results = await pipe.execute()
        counts = results[-len(keys) :]
        calls = sum(int(c or 0) for c, _ in counts)
        failures = sum(int(f or 0) for _, f in counts)
        return calls, failures


class SharedBreakerStore:
    """Redis while it answers; this process's local store while it does not."""

    def __init__(self, redis: Redis) -> None:
        self.shared = RedisBreakerStore(redis)
        self.local = LocalBreakerStore()
        self.degraded = False

    async def _either(self, op: Callable[[BreakerStore], Awaitable[T]]) -> T:
        try:
            result = await op(self.shared)
        except (RedisError, OSError) as exc:
            if not self.degraded:
                log.warning("breaker state falls back to local: redis unavailable (%s)", exc)
            self.degraded = True
            return await op(self.local)
        if self.degraded:
            log.info("breaker state back on redis")
            self.degraded = False
        return result

    async def read(self, target: str) -> StateRecord:
        return await self._either(lambda store: store.read(target))

    async def write(self, target: str, record: StateRecord) -> None:
        await self.local.write(target, record)  # keep the local view current for an outage
        await self._either(lambda store: store.write(target, record))

    async def claim_probe(self, target: str) -> int:
        return await self._either(lambda store: store.claim_probe(target))

    async def count(self, target: str, ok: bool, now: float, window_s: int) -> tuple[int, int]:
        return await self._either(lambda store: store.count(target, ok, now, window_s))


class CircuitBreaker:
    """One breaker per target name; ``allow`` before a call, ``record`` after it.

    ``clock`` stamps openings and measures cooldowns (wall-clock time: replicas compare stamps
    through Redis); tests pass a manual one instead of sleeping past a cooldown.
    """

    def __init__(
        self,
        store: BreakerStore,
        policy: BreakerPolicy | None = None,
        metrics: ResilienceMetrics | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.policy = policy or BreakerPolicy()
        self.metrics = metrics
        self.clock = clock

    async def _move(self, target: str, record: StateRecord) -> None:
        await self.store.write(target, record)
        if self.metrics is not None:
            self.metrics.breaker_changed(target, record.state.value)

    @asynccontextmanager
    async def guard(self, target: str) -> AsyncIterator[None]:
        """Run the block as one call to ``target``: rejected while open, its outcome counted."""
        probe = await self.allow(target)
        try:
            yield
        except MeshlineError as exc:
            if counts_as_failure(exc):
                await self.record(target, ok=False, probe=probe)
            elif probe and exc.code in NO_VERDICT:  # the caller's doing: the next call probes instead
                await self.release_probe(target)
            elif probe:  # a 4xx proves the target alive; our own rejection proves nothing: try later
                await self.record(target, ok=exc.status < 500, probe=probe)
            raise
        except BaseException:
            if probe:  # cancelled: no verdict, but the probe's slot must not stay taken forever
                await self.record(target, ok=False, probe=probe)
            raise
        await self.record(target, ok=True, probe=probe)

    async def state(self, target: str) -> BreakerState:
        return (await self.store.read(target)).state

    async def allow(self, target: str, now: float | None = None) -> bool:
        """Raise CircuitOpen when the call must not be made; True when it is a half-open probe."""
        now = self.clock.time() if now is None else now
        record = await self.store.read(target)
        if record.state is BreakerState.CLOSED:
            return False
        if record.state is BreakerState.OPEN:
            wait = record.opened_at + self.policy.cooldown_s - now
            if wait > 0:
                raise self._rejection(target, wait)
            await self._move(target, StateRecord(BreakerState.HALF_OPEN, record.opened_at))
        if await self.store.claim_probe(target) <= self.policy.half_open_probes:
            return True
        raise self._rejection(target, self.policy.cooldown_s)

    async def record(self, target: str, ok: bool, probe: bool, now: float | None = None) -> BreakerState:
        """Count the outcome; returns the state after it."""
        now = self.clock.time() if now is None else now
        if probe:
            state = BreakerState.CLOSED if ok else BreakerState.OPEN
            await self._move(target, StateRecord(state, now if state is BreakerState.OPEN else 0.0))
            log.warning("breaker %s: probe %s -> %s", target, "passed" if ok else "failed", state)
            return state
        calls, failures = await self.store.count(target, ok, now, self.policy.window_s)
        if not ok and calls >= self.policy.min_calls and failures / calls >= self.policy.failure_rate:
            if (await self.store.read(target)).state is BreakerState.CLOSED:
                await self._move(target, StateRecord(BreakerState.OPEN, now))
                log.warning("breaker %s opened: %d of %d calls failed", target, failures, calls)
            return BreakerState.OPEN
        return BreakerState.CLOSED

    async def release_probe(self, target: str) -> None:
        """Give a half-open probe's slot back without a verdict (the state stays half-open)."""
        record = await self.store.read(target)
        if record.state is BreakerState.HALF_OPEN:
            await self.store.write(target, record)  # a write resets the probes claimed

    def _rejection(self, target: str, retry_after_s: float) -> CircuitOpen:
        if self.metrics is not None:
            self.metrics.breaker_rejections.labels(target).inc()
        seconds = max(1, math.ceil(retry_after_s))
        return CircuitOpen(
            f"{target} is failing; calls are paused for {seconds}s", headers={"retry-after": str(seconds)}
        )


# Outcomes that say nothing about the target: the caller's deadline ran out (whoever noticed it:
# our own cut, the client's timeout, the target's deadline middleware), or the caller's tenant
# already held its share of the target's bulkhead.
NO_VERDICT = frozenset({DeadlineExceeded.code, "bulkhead_full"})


def counts_as_failure(exc: MeshlineError) -> bool:
    """The target's fault (5xx, its own budget spent, unreachable, a broken stream), not the
    caller's (4xx, its deadline) nor our own protection rejecting the call before it was made (a
    full bulkhead, an open breaker downstream)."""
    return exc.status >= 500 and exc.code not in (*NO_VERDICT, CircuitOpen.code)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
