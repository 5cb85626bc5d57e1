"""Circuit breaker state machine over a real Redis (shared by 'replicas') and the local fallback."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from meshline.cli.ports import free_port
from meshline.errors import MeshlineError, UpstreamError
from meshline.resilience.bulkhead import Bulkhead, BulkheadFull, BulkheadPolicy
from meshline.resilience.circuit_breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    LocalBreakerStore,
    SharedBreakerStore,
)
from meshline.resilience.retry import RetryBudget
from meshline.testing.clock import ManualClock
from meshline.testing.wait import wait_until

POLICY = BreakerPolicy(window_s=10, min_calls=4, failure_rate=0.5, cooldown_s=5, half_open_probes=1)
T0 = 1_800_000_000.0


async def fail_n(breaker: CircuitBreaker, n: int, now: float = T0) -> BreakerState:
    state = BreakerState.CLOSED
    for _ in range(n):
        state = await breaker.record("commerce", ok=False, probe=await breaker.allow("commerce", now), now=now)
    return state


async def test_stays_closed_below_the_minimum_number_of_calls() -> None:
    breaker = CircuitBreaker(LocalBreakerStore(), POLICY)
    assert await fail_n(breaker, 3) is BreakerState.CLOSED
    assert await breaker.allow("commerce", T0) is False  # still flowing


async def test_opens_on_failure_rate_and_rejects_at_once_with_retry_after() -> None:
    breaker = CircuitBreaker(LocalBreakerStore(), POLICY)
    for ok in (True, True, False):
        await breaker.record("commerce", ok=ok, probe=False, now=T0)
    assert await breaker.state("commerce") is BreakerState.CLOSED  # 1 of 3 failed, under min calls
    await breaker.record("commerce", ok=False, probe=False, now=T0)  # 2 of 4 = 50%
    assert await breaker.state("commerce") is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as rejected:
        await breaker.allow("commerce", T0 + 1)
    assert rejected.value.status == 503 and rejected.value.headers["retry-after"] == "4"


async def test_old_failures_leave_the_window() -> None:
    breaker = CircuitBreaker(LocalBreakerStore(), POLICY)
    await fail_n(breaker, 3, now=T0)
    # Ten seconds later the three failures are outside the window: one more is not enough.
    assert await fail_n(breaker, 1, now=T0 + POLICY.window_s) is BreakerState.CLOSED


async def test_half_open_admits_limited_probes_then_closes_on_success() -> None:
    breaker = CircuitBreaker(LocalBreakerStore(), POLICY)
    await fail_n(breaker, 4)
    later = T0 + POLICY.cooldown_s
    assert await breaker.allow("commerce", later) is True  # the one probe
    with pytest.raises(CircuitOpen):
        await breaker.allow("commerce", later)  # a second caller is still rejected
    assert await breaker.record("commerce", ok=True, probe=True, now=later) is BreakerState.CLOSED
    assert await breaker.allow("commerce", later) is False


async def test_a_failed_probe_reopens_for_another_cooldown() -> None:
    breaker = CircuitBreaker(LocalBreakerStore(), POLICY)
    await fail_n(breaker, 4)
    later = T0 + POLICY.cooldown_s
    assert await breaker.allow("commerce", later) is True
    assert await breaker.record("commerce", ok=False, probe=True, now=later) is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        await breaker.allow("commerce", later + 1)


async def test_replicas_share_state_through_redis(redis_url: str) -> None:
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    replica_a, replica_b = CircuitBreaker(SharedBreakerStore(a), POLICY), CircuitBreaker(SharedBreakerStore(b), POLICY)
    try:
        await replica_a.record("commerce", ok=False, probe=False, now=T0)
        await replica_b.record("commerce", ok=False, probe=False, now=T0)
        await replica_a.record("commerce", ok=True, probe=False, now=T0)
        await replica_b.record("commerce", ok=False, probe=False, now=T0)  # 3 of 4 across both
        assert await replica_a.state("commerce") is BreakerState.OPEN
        with pytest.raises(CircuitOpen):
            await replica_a.allow("commerce", T0 + 1)
        # Only one probe between the two replicas.
        later = T0 + POLICY.cooldown_s
        assert await replica_a.allow("commerce", later) is True
        with pytest.raises(CircuitOpen):
            await replica_b.allow("commerce", later)
        await replica_a.record("commerce", ok=True, probe=True, now=later)
        assert await replica_b.allow("commerce", later) is False
    finally:
        await a.aclose()
        await b.aclose()


async def test_falls_back_to_local_state_when_redis_is_unreachable() -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    store = SharedBreakerStore(dead)
    breaker = CircuitBreaker(store, POLICY)
    try:
        assert await fail_n(breaker, 4) is BreakerState.OPEN
        assert store.degraded
        with pytest.raises(CircuitOpen):
            await breaker.allow("commerce", T0 + 1)
    finally:
        await dead.aclose()


async def test_bulkhead_bounds_concurrency_and_rejects_fast() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=2, max_wait_s=0.05))
    release = asyncio.Event()

    async def hold() -> None:
        async with bulkhead.slot("slow-agent"):
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await wait_until(lambda: bulkhead.in_use("slow-agent") == 2)
    assert bulkhead.in_use("slow-agent") == 2
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BulkheadFull) as rejected:
        async with bulkhead.slot("slow-agent"):
            pass
    assert loop.time() - started < 0.5 and rejected.value.headers["retry-after"] == "1"
    async with bulkhead.slot("other-agent"):  # other targets are unaffected
        assert bulkhead.in_use("other-agent") == 1
    release.set()
    await asyncio.gather(*holders)
    assert bulkhead.in_use("slow-agent") == 0


def test_retry_budget_caps_retries_to_a_share_of_calls() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=0.1, window_s=10)  # floor: 1 retry per window
    for i in range(50):
        budget.record_call(now=i * 0.1)
    granted = sum(budget.try_spend(now=5.0) for _ in range(30))
    assert granted == 10  # 20% of the 50 calls in the window, not 30
    # Calls age out of the window, and the budget with them (down to the floor).
    assert budget.try_spend(now=100.0) is True
    assert budget.try_spend(now=100.0) is False


async def test_guard_counts_the_targets_failures_but_not_the_callers_mistakes() -> None:
    breaker = CircuitBreaker(LocalBreakerStore(), BreakerPolicy(window_s=10, min_calls=4, cooldown_s=60))
    for _ in range(6):  # a caller sending bad arguments does not make the tool service look broken
        with pytest.raises(MeshlineError):
            async with breaker.guard("crm"):
                raise MeshlineError("order 9 is not yours", code="forbidden", status=403)
    assert await breaker.state("crm") is BreakerState.CLOSED
    for _ in range(4):
        with pytest.raises(UpstreamError):
            async with breaker.guard("crm"):
                raise UpstreamError("crm answered 500")
    assert await breaker.state("crm") is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        async with breaker.guard("crm"):
            raise AssertionError("an open breaker must not run the call")


async def test_a_cancelled_probe_does_not_leave_the_breaker_half_open_forever() -> None:
    store, clock = LocalBreakerStore(), ManualClock()
    breaker = CircuitBreaker(store, BreakerPolicy(min_calls=1, cooldown_s=0.05, half_open_probes=1), clock=clock)
    await breaker.record("llm", ok=False, probe=False)
    assert await breaker.state("llm") is BreakerState.OPEN
    clock.advance(0.06)
    probe = asyncio.create_task(_hang_in(breaker, "llm"))
    await wait_until(lambda: _in_state(breaker, "llm", BreakerState.HALF_OPEN))  # the probe is in flight
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert await breaker.state("llm") is BreakerState.OPEN  # reopened: a new probe after the cooldown
    clock.advance(0.06)
    async with breaker.guard("llm"):
        pass
    assert await breaker.state("llm") is BreakerState.CLOSED


async def _in_state(breaker: CircuitBreaker, target: str, state: BreakerState) -> bool:
    return await breaker.state(target) is state


async def _hang_in(breaker: CircuitBreaker, target: str) -> None:
    async with breaker.guard(target):
        await asyncio.sleep(30)
