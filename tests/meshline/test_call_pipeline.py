"""The resilience pipeline composes breaker, bulkhead and budget around one call, in one order."""

from __future__ import annotations

import asyncio

import pytest
import respx

from meshline.errors import MeshlineError
from meshline.resilience import CallPipeline, CallPolicy, ServiceClient
from meshline.resilience.bulkhead import Bulkhead, BulkheadFull, BulkheadPolicy
from meshline.resilience.circuit_breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    LocalBreakerStore,
)
from meshline.resilience.deadlines import BUDGET_TIMEOUT

URL = "http://target.test/v1/x"


def breaker(min_calls: int = 2) -> CircuitBreaker:
    return CircuitBreaker(LocalBreakerStore(), BreakerPolicy(min_calls=min_calls, cooldown_s=60))


async def test_an_error_response_counts_against_the_targets_breaker_then_calls_stop() -> None:
    client, guard = ServiceClient(), breaker()
    pipeline = CallPipeline(client, CallPolicy(breaker=guard))
    with respx.mock() as router:
        route = router.post(URL).respond(500, json={"detail": "boom", "code": "internal"})
        for _ in range(2):
            with pytest.raises(MeshlineError) as failed:
                await pipeline.request("target", "POST", URL, json={})
            assert failed.value.code == "internal"
        with pytest.raises(CircuitOpen):
            await pipeline.request("target", "POST", URL, json={})
    await client.aclose()
    assert route.call_count == 2 and await guard.state("target") is BreakerState.OPEN


async def test_a_stream_error_status_raises_inside_the_guard() -> None:
    client, guard = ServiceClient(), breaker(min_calls=1)
    pipeline = CallPipeline(client, CallPolicy(breaker=guard))
    with respx.mock() as router:
        router.post(URL).respond(502, json={"detail": "down", "code": "bad_gateway"})
        with pytest.raises(MeshlineError) as failed:
            async with pipeline.stream("target", "POST", URL, json={}):
                raise AssertionError("the block does not run for an error status")
    await client.aclose()
    assert failed.value.status == 502
    assert await guard.state("target") is BreakerState.OPEN


async def test_a_full_bulkhead_and_an_overrun_budget_are_told_apart_by_the_breaker() -> None:
    guard = breaker(min_calls=1)
    policy = CallPolicy(
        breaker=guard, bulkhead=Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait_s=0.01)), budgets={"slow": 0.05}
    )
    pipeline = CallPipeline(None, policy)
    held, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with pipeline.guard("busy", tenant="a"):
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await held.wait()
    with pytest.raises(BulkheadFull):
        async with pipeline.guard("busy", tenant="b"):
            pass
    release.set()
    await holder
    assert await guard.state("busy") is BreakerState.CLOSED, "our own rejection says nothing about the target"
    with pytest.raises(MeshlineError) as overrun:
        async with pipeline.guard("slow"):
            await asyncio.sleep(1)
    assert overrun.value.code == BUDGET_TIMEOUT and await guard.state("slow") is BreakerState.OPEN


def test_a_pipeline_without_a_client_only_guards() -> None:
    with pytest.raises(RuntimeError):
        _ = CallPipeline(None).client
