"""An agent that keeps failing trips its circuit breaker: later turns get the honest degraded reply at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from meshline.cli.ports import free_port
from meshline.contracts.agent import AgentResult, AgentResultEvent, AgentTask
from meshline.contracts.manifest import Manifest
from meshline.orchestrator.dispatch import AgentCaller, DispatchPolicy
from meshline.orchestrator.dispatch_outcome import DispatchFailure
from meshline.orchestrator.registry import INSTANCES, MANIFESTS, Instance, ServiceRegistry
from meshline.resilience.bulkhead import Bulkhead
from meshline.resilience.circuit_breaker import BreakerPolicy, BreakerState, CircuitBreaker, SharedBreakerStore
from meshline.resilience.client import ServiceClient
from meshline.resilience.deadlines import BUDGET_TIMEOUT
from meshline.resilience.metrics import ResilienceMetrics
from meshline.resilience.retry import RetryPolicy
from meshline.service.auth import ServiceTokenIssuer
from meshline.service.context import current_context
from meshline.sse import encode_sse
from meshline.testing.serve import serve_in_thread


async def test_breaker_opens_on_a_dead_agent_and_rejects_fast(redis_url: str, token_keys: tuple[str, str]) -> None:
    redis = Redis.from_url(redis_url)
    client = ServiceClient(timeout_s=2, connect_timeout_s=0.2, retry=RetryPolicy(max_attempts=1))
    dead = f"http://127.0.0.1:{free_port()}"  # registered, then gone: nothing listens there
    await redis.hset(MANIFESTS, "commerce", Manifest(name="commerce", kind="agent").model_dump_json())
    await redis.hset(INSTANCES.format(name="commerce"), dead, Instance(url=dead).model_dump_json())
    breaker = CircuitBreaker(SharedBreakerStore(redis), BreakerPolicy(min_calls=3, failure_rate=0.5, cooldown_s=30))
    caller = AgentCaller(client, ServiceRegistry(redis), ServiceTokenIssuer(token_keys[0]), breaker=breaker)
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "where is my order?"}])
    try:
        errors = []
        for _ in range(3):
            outcome = await caller.invoke(
                "commerce", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
            )
            assert "unavailable" in outcome.result.content and outcome.failure is not None
            assert outcome.failure.agent == "commerce" and outcome.failure.code == "connect_failed"
            errors.append(outcome.failure)
        assert await breaker.state("commerce") is BreakerState.OPEN
        started = time.perf_counter()
        outcome = await caller.invoke(
            "commerce", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
        )
        failure = outcome.failure
        assert failure is not None and failure.code == "circuit_open" and failure.retryable
        assert "circuit_open" in outcome.result.content and "paused" in failure.message
        assert time.perf_counter() - started < 0.1, "an open breaker answers without trying the agent"
    finally:
        await client.aclose()
        await redis.aclose()


def answering_agent(name: str = "commerce", content: str = "order 1042 ships today", delay_s: float = 0.0) -> FastAPI:
    """A minimal agent service speaking the AgentTask -> SSE contract (a real HTTP peer, not a mock)."""
    app = FastAPI()
    app.state.tasks = []

    @app.post("/v1/invoke")
    async def invoke(task: AgentTask) -> StreamingResponse:
        app.state.tasks.append(task)
        await asyncio.sleep(delay_s)
        result = AgentResult(task_id=task.task_id, agent=name, content=content)

        async def events() -> AsyncIterator[bytes]:
            yield encode_sse(AgentResultEvent(result=result).model_dump_json(), "result")

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


async def test_an_unreachable_replica_hands_over_to_a_live_one(redis_url: str, token_keys: tuple[str, str]) -> None:
    redis = Redis.from_url(redis_url)
    client = ServiceClient(timeout_s=5, connect_timeout_s=0.2, retry=RetryPolicy(max_attempts=1))
    registry = ServiceRegistry(redis)
    caller = AgentCaller(client, registry, ServiceTokenIssuer(token_keys[0]))
    dead = f"http://127.0.0.1:{free_port()}"
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "where is my order?"}])
    try:
        with serve_in_thread(answering_agent()) as live:
            await redis.hset(MANIFESTS, "commerce", Manifest(name="commerce", kind="agent").model_dump_json())
            for url in (dead, live):
                await redis.hset(INSTANCES.format(name="commerce"), url, Instance(url=url).model_dump_json())
            # A call already in flight on the live replica makes the dead one the first pick every time.
            with registry.lease(live):
                for _ in range(3):
                    outcome = await caller.invoke(
                        "commerce", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
                    )
                    assert outcome.failure is None and outcome.result.content == "order 1042 ships today"
    finally:
        await client.aclose()
        await redis.aclose()


async def test_pick_prefers_the_replica_with_fewest_calls_in_flight(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    client = ServiceClient()
    registry = ServiceRegistry(redis)
    try:
        await redis.hset(MANIFESTS, "general", Manifest(name="general", kind="agent").model_dump_json())
        for url in ("http://a:1", "http://b:1"):
            await redis.hset(INSTANCES.format(name="general"), url, Instance(url=url).model_dump_json())
        with registry.lease("http://a:1"):
            assert {await registry.pick("general") for _ in range(10)} == {"http://b:1"}
        assert {await registry.pick("general") for _ in range(30)} == {"http://a:1", "http://b:1"}
    finally:
        await client.aclose()
        await redis.aclose()


async def register(redis: Redis, name: str, *urls: str) -> None:
    await redis.hset(MANIFESTS, name, Manifest(name=name, kind="agent").model_dump_json())
    for url in urls:
        await redis.hset(INSTANCES.format(name=name), url, Instance(url=url).model_dump_json())


@asynccontextmanager
async def dispatching(
    redis_url: str,
    token_keys: tuple[str, str],
    policy: DispatchPolicy,
    metrics: ResilienceMetrics | None = None,
    *,
    breaker_policy: BreakerPolicy | None = None,
    bulkhead: Bulkhead | None = None,
) -> AsyncIterator[tuple[Redis, AgentCaller]]:
    """A caller over a real Redis and registry (its breaker's state there too), with ``policy``; closed afterwards."""
    redis = Redis.from_url(redis_url)
    client = ServiceClient(timeout_s=30, connect_timeout_s=0.2, retry=RetryPolicy(max_attempts=1))
    breaker = CircuitBreaker(SharedBreakerStore(redis), breaker_policy, metrics)
    issuer = ServiceTokenIssuer(token_keys[0])
    caller = AgentCaller(client, ServiceRegistry(redis), issuer, breaker, bulkhead, policy=policy, metrics=metrics)
    try:
        yield redis, caller
    finally:
        await client.aclose()
        await redis.aclose()


async def ask_commerce(caller: AgentCaller, task: AgentTask) -> tuple[AgentResult, DispatchFailure | None]:
    outcome = await caller.invoke(
        "commerce", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
    )
    return outcome.result, outcome.failure


async def test_a_dead_agent_is_answered_by_its_fallback_told_what_is_unavailable(
    redis_url: str, token_keys: tuple[str, str]
) -> None:
    metrics = ResilienceMetrics(CollectorRegistry())
    general = answering_agent("general", "I cannot reach orders right now, sorry.")
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "cancel order 1042"}])
    async with dispatching(redis_url, token_keys, DispatchPolicy({"commerce": "general"}), metrics) as (redis, caller):
        with serve_in_thread(general) as live:
            await register(redis, "commerce", f"http://127.0.0.1:{free_port()}")
            await register(redis, "general", live)
            result, error = await ask_commerce(caller, task)
    assert error is not None and error.code == "connect_failed" and "connect" in error.message
    assert result.agent == "general" and result.fallback_for == "commerce"
    told = general.state.tasks[0].messages[0]
    assert told["role"] == "system" and "commerce" in told["content"] and "never claim" in told["content"]
    assert metrics.fallbacks.labels("commerce", "general")._value.get() == 1


async def test_a_hanging_agent_is_cut_before_the_deadline_and_the_turn_still_answered(
    redis_url: str, token_keys: tuple[str, str]
) -> None:
    policy = DispatchPolicy({"commerce": "general"}, reserve_s=0.5, min_fallback_s=2.0)
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "where is my order?"}])
    async with dispatching(redis_url, token_keys, policy) as (redis, caller):
        with serve_in_thread(answering_agent(delay_s=4)) as slow, serve_in_thread(answering_agent("general")) as ok:
            await register(redis, "commerce", slow)
            await register(redis, "general", ok)
            current_context().deadline = time.time() + 2.0
            started = time.perf_counter()
            try:
                result, error = await ask_commerce(caller, task)
            finally:
                current_context().deadline = None
            elapsed = time.perf_counter() - started
    # Cut at deadline - reserve; too little time is left for the fallback, so the reply is degraded.
    assert 1.3 < elapsed < 1.9, elapsed
    assert error is not None and error.code == "deadline_exceeded" and "deadline" in error.message
    assert result.agent == "commerce" and "unavailable" in result.content and "deadline_exceeded" in result.content


async def test_an_agent_past_its_own_budget_is_cut_and_its_fallback_answers(
    redis_url: str, token_keys: tuple[str, str]
) -> None:
    policy = DispatchPolicy({"commerce": "general"}, timeouts={"commerce": 1.0})
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "where is my order?"}])
    general = answering_agent("general", "Orders cannot be looked up right now.")
    async with dispatching(redis_url, token_keys, policy) as (redis, caller):
        with serve_in_thread(answering_agent(delay_s=4)) as slow, serve_in_thread(general) as ok:
            await register(redis, "commerce", slow)
            await register(redis, "general", ok)
            started = time.perf_counter()
            result, error = await ask_commerce(caller, task)
            elapsed = time.perf_counter() - started
    assert 0.9 < elapsed < 1.8, elapsed
    assert error is not None and error.code == BUDGET_TIMEOUT and "its own budget of 1s" in error.message
    assert result.agent == "general" and result.fallback_for == "commerce"
