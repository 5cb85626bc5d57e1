"""The limiter's arithmetic in Redis (real redis-server): buckets, slots, leases, concurrent callers,
and the per-process fallback while Redis is unreachable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from meshline.cli.ports import free_port
from meshline.cli.redis_server import redis_url_for, start_redis
from meshline.errors import RateLimited
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.rate_limit_metrics import OTHER, PLATFORM, TenantLabels
from meshline.orchestrator.rate_limit_store import Bucket, Check, LocalLimits, RedisLimits, Slots
from meshline.orchestrator.rate_limits import ApiLimits
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.wait import wait_until


@pytest.fixture
async def redis_pair(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two connections, as two orchestrator replicas would have."""
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield first, second
    await first.aclose()
    await second.aclose()


def bucket(name: str, rate: float, capacity: float) -> Bucket:
    return Bucket(f"meshline:limits:{{t:test}}:rps:{name}", rate, capacity)


def slots(name: str, limit: int) -> Slots:
    return Slots(f"meshline:limits:{{t:test}}:turns:{name}", limit)


async def test_bucket_admits_its_capacity_then_names_the_wait(redis_pair: tuple[Redis, Redis]) -> None:
    limits = RedisLimits(redis_pair[0])
    check = Check((bucket("k", rate=0.5, capacity=3),))
    outcomes = [await limits.admit(check) for _ in range(10)]
    assert outcomes[:3] == [None, None, None]
    refusals = outcomes[3:]
    assert all(r is not None and r.position == 0 for r in refusals)
    # One token every 2 s: the first refusal waits most of that (a few ms have passed since the bucket was full).
    assert refusals[0] is not None and 1.5 < refusals[0].retry_after_s <= 2.0


async def test_a_refusal_takes_nothing_from_the_other_buckets(redis_pair: tuple[Redis, Redis]) -> None:
    limits = RedisLimits(redis_pair[0])
    tenant = bucket("tenant", rate=0.001, capacity=5)
    assert await limits.admit(Check((bucket("k1", 0.001, 1), tenant))) is None
    for _ in range(5):  # k1 is spent: refused on its own bucket, the tenant's keeps its 4 tokens
        refusal = await limits.admit(Check((bucket("k1", 0.001, 1), tenant)))
        assert refusal is not None and refusal.position == 0
    admitted = [await limits.admit(Check((bucket(f"k{n}", 0.001, 1), tenant))) for n in range(2, 6)]
    assert admitted == [None] * 4
    refusal = await limits.admit(Check((bucket("k9", 0.001, 1), tenant)))
    assert refusal is not None and refusal.position == 1, "now the tenant's bucket is the one spent"


async def test_concurrent_callers_on_two_replicas_share_one_budget(redis_pair: tuple[Redis, Redis]) -> None:
    replicas = [RedisLimits(redis_pair[0]), RedisLimits(redis_pair[1])]
    check = Check((bucket("k", rate=0.001, capacity=10), bucket("tenant", rate=0.001, capacity=25)))
    outcomes = await asyncio.gather(*(replicas[n % 2].admit(check) for n in range(60)))
    assert sum(o is None for o in outcomes) == 10


async def test_slots_are_exact_under_concurrency_and_come_back_on_release(redis_pair: tuple[Redis, Redis]) -> None:
    replicas = [RedisLimits(redis_pair[0]), RedisLimits(redis_pair[1])]
    held = (slots("k", 3), slots("tenant", 5))
    checks = [Check((bucket("k", 1000, 1000),), held, f"lease-{n}") for n in range(20)]
    outcomes = await asyncio.gather(*(replicas[n % 2].admit(c) for n, c in enumerate(checks)))
    admitted = [c for c, o in zip(checks, outcomes, strict=True) if o is None]
    assert len(admitted) == 3
    refused = [o for o in outcomes if o is not None]
    assert all(r.position == 1 and r.retry_after_s == 1.0 for r in refused), "the key's slots are the limit"
    assert await replicas[0].in_use(held[0].key) == 3
    await replicas[1].release(admitted[0])
    assert await replicas[0].in_use(held[0].key) == 2
    assert await replicas[0].admit(Check((bucket("k", 1000, 1000),), held, "another")) is None


async def test_a_lease_nobody_renews_expires_and_a_renewed_one_does_not(redis_pair: tuple[Redis, Redis]) -> None:
    limits = RedisLimits(redis_pair[0])
    one = (slots("k", 1),)
    crashed = Check((), one, "crashed-replica", lease_s=1.0)
    assert await limits.admit(crashed) is None
    assert await limits.admit(Check((), one, "next", lease_s=1.0)) is not None

    async def admitted() -> bool:  # the crashed lease expires
        return await limits.admit(Check((), one, "next", lease_s=3.0)) is None

    await wait_until(admitted, timeout=10, what="an unrenewed lease never expired")
    await asyncio.sleep(2.0)
    await limits.renew([Check((), one, "next", lease_s=3.0)])  # renewed at ~2 s: now expires at ~5 s
    await asyncio.sleep(1.5)
    assert await limits.admit(Check((), one, "third", lease_s=3.0)) is not None, "the renewed lease still holds"


def test_local_limits_do_the_same_arithmetic() -> None:
    local = LocalLimits(max_entries=100)
    check = Check((Bucket("k", 0.5, 2),), (Slots("s", 1),), "a")
    assert local.admit(check) is None
    refusal = local.admit(Check((Bucket("k", 0.5, 2),), (Slots("s", 1),), "b"))
    assert refusal is not None and refusal.position == 1  # a token is left; the slot is not
    local.release(check)
    assert local.admit(Check((Bucket("k", 0.5, 2),), (Slots("s", 1),), "b")) is None
    refusal = local.admit(Check((Bucket("k", 0.5, 2),)))
    assert refusal is not None and refusal.position == 0 and 1.5 < refusal.retry_after_s <= 2.0


async def test_redis_down_limits_locally_and_logs_once(
    mesh_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    dead = Redis(port=free_port(), socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limits = ApiLimits(dead, OrchestratorSettings(turn_slot_wait_s=0), CollectorRegistry())  # no refill meanwhile
    principal = Principal("acme", None, frozenset({"chat"}), "k1", rate_limit_rps=3, max_concurrent_turns=1)
    caplog.set_level(logging.INFO, "meshline.orchestrator.rate_limits")
    async with limits.turn(principal):
        with pytest.raises(RateLimited) as refused:
            async with limits.turn(principal):
                pass
        assert refused.value.code == "too_many_concurrent_turns"
        assert refused.value.headers["X-Meshline-Limit"] == "key_turns"
    await limits.admit(principal)
    await limits.admit(principal)  # the third token of three (the refused turn took none)
    with pytest.raises(RateLimited) as limited:
        await limits.admit(principal)
    assert limited.value.code == "rate_limited" and limited.value.headers["Retry-After"] == "1"
    assert limits.degraded
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "redis unavailable" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records), "an outage logs no traceback"
    await dead.aclose()


def test_tenant_labels_are_bounded() -> None:
    labels = TenantLabels(max_tenants=2)
    assert [labels(t) for t in ("a", "b", "c", "a", "d", None)] == ["a", "b", OTHER, "a", OTHER, PLATFORM]


async def test_metrics_count_admissions_and_refusals_by_limit(redis_url: str, mesh_env: dict[str, str]) -> None:
    redis, registry = Redis.from_url(redis_url), CollectorRegistry()
    limits = ApiLimits(redis, OrchestratorSettings(metrics_max_tenants=1), registry)
    first = Principal("first", None, frozenset({"chat"}), "k1", rate_limit_rps=1)
    second = Principal("second", None, frozenset({"chat"}), "k2", max_concurrent_turns=1)
    await limits.admit(first)
    with pytest.raises(RateLimited):
        await limits.admit(first)
    async with limits.turn(second):
        assert registry.get_sample_value("meshline_api_turns_in_flight", {"tenant": OTHER}) == 1
        with pytest.raises(RateLimited):
            async with limits.turn(second):
                pass
    await redis.aclose()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("meshline_api_requests_admitted_total", tenant="first") == 1
    assert sample("meshline_api_requests_refused_total", tenant="first", limit="key_rate") == 1
    assert sample("meshline_api_requests_admitted_total", tenant=OTHER) == 1, "beyond the first tenant: (other)"
    assert sample("meshline_api_requests_refused_total", tenant=OTHER, limit="key_turns") == 1
    assert sample("meshline_api_turns_in_flight", tenant=OTHER) == 0


async def test_limits_go_back_to_redis_when_it_answers_again(
    mesh_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = redis_url_for(port, "pw")
    client = Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limits = ApiLimits(client, OrchestratorSettings(), CollectorRegistry())
    principal = Principal("acme", None, frozenset({"chat"}), "k1", max_concurrent_turns=1)
    caplog.set_level(logging.INFO, "meshline.orchestrator.rate_limits")
    async with limits.turn(principal):  # no Redis yet: held locally, given back locally
        assert limits.degraded
    proc = start_redis(port, tmp_path / "redis", password="pw")
    try:
        slot_set = limits.plan(principal, turn=True).check.slots[0].key

        async def turn_on_redis() -> bool:
            async with limits.turn(principal):
                if not limits.degraded:
                    assert await RedisLimits(client).in_use(slot_set) == 1, "this turn's slot is in Redis"
                    return True
            return False

        await wait_until(turn_on_redis, timeout=10, interval=0.2, what="the limiter never went back to Redis")
        assert await RedisLimits(client).in_use(slot_set) == 0
        assert any("shared through redis again" in r.getMessage() for r in caplog.records)
    finally:
        await client.aclose()
        proc.terminate()
        proc.wait(timeout=10)


async def test_a_running_turn_keeps_its_slot_past_one_lease(redis_url: str, mesh_env: dict[str, str]) -> None:
    """The renewal loop extends the leases of running turns (lease 1.5 s, held for twice that)."""
    redis = Redis.from_url(redis_url)
    limits = ApiLimits(redis, OrchestratorSettings(turn_lease_s=1.5), CollectorRegistry())
    limits.start()
    principal = Principal("acme", None, frozenset({"chat"}), "k1", max_concurrent_turns=1)
    slot_set = limits.plan(principal, turn=True).check.slots[0].key
    try:
        async with limits.turn(principal):
            await asyncio.sleep(3.0)
            assert await limits.in_use(slot_set) == 1, "renewed, not expired"
            with pytest.raises(RateLimited):
                async with limits.turn(principal):
                    pass
        assert await limits.in_use(slot_set) == 0
    finally:
        await limits.aclose()
        await redis.aclose()


async def test_a_turn_waits_briefly_for_a_slot_that_is_being_given_back(
    redis_url: str, mesh_env: dict[str, str]
) -> None:
    """A client sending its next turn right after the last reply races that turn's release: it waits."""
    redis = Redis.from_url(redis_url)
    limits = ApiLimits(redis, OrchestratorSettings(turn_slot_wait_s=5.0), CollectorRegistry())
    principal = Principal("acme", None, frozenset({"chat"}), "k1", max_concurrent_turns=1)
    slot_set = limits.plan(principal, turn=True).check.slots[0].key
    first_ends = asyncio.Event()

    async def first() -> None:
        async with limits.turn(principal):
            await first_ends.wait()

    async def second() -> None:
        async with limits.turn(principal):
            pass

    async with asyncio.TaskGroup() as group:
        group.create_task(first())
        await wait_until(lambda: _held(limits, slot_set), what="the first turn holds the slot")
        waiting = group.create_task(second())
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the second turn waits for the slot"
        first_ends.set()
    await redis.aclose()


async def _held(limits: ApiLimits, slot_set: str) -> bool:
    return await limits.in_use(slot_set) == 1
