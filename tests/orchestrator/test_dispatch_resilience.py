"""An agent that keeps failing trips its circuit breaker: later turns get the honest degraded reply at once."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from meshline.contracts.agent import AgentTask
from meshline.contracts.manifest import Manifest
from meshline.orchestrator.dispatch import AgentCaller
from meshline.orchestrator.registry import INSTANCES, MANIFESTS, Instance, ServiceRegistry
from meshline.resilience.circuit_breaker import BreakerPolicy, BreakerState, CircuitBreaker, SharedBreakerStore
from meshline.resilience.client import ServiceClient
from meshline.resilience.retry import RetryPolicy
from meshline.service.auth import ServiceTokenIssuer
from meshline.testing.redis_process import free_port


async def test_breaker_opens_on_a_dead_agent_and_rejects_fast(redis_url: str, token_keys: tuple[str, str]) -> None:
    redis = Redis.from_url(redis_url)
    client = ServiceClient(timeout_s=2, connect_timeout_s=0.2, retry=RetryPolicy(max_attempts=1))
    dead = f"http://127.0.0.1:{free_port()}"  # registered, then gone: nothing listens there
    await redis.hset(MANIFESTS, "commerce", Manifest(name="commerce", kind="agent").model_dump_json())
    await redis.hset(INSTANCES.format(name="commerce"), dead, Instance(url=dead).model_dump_json())
    breaker = CircuitBreaker(SharedBreakerStore(redis), BreakerPolicy(min_calls=3, failure_rate=0.5, cooldown_s=30))
    caller = AgentCaller(client, ServiceRegistry(redis, client), ServiceTokenIssuer(token_keys[0]), breaker=breaker)
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "where is my order?"}])
    try:
        errors = []
        for _ in range(3):
            result, error = await caller.invoke(
                "commerce", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
            )
            assert "unavailable" in result.content and error is not None
            errors.append(error)
        assert await breaker.state("commerce") is BreakerState.OPEN
        started = time.perf_counter()
        result, error = await caller.invoke(
            "commerce", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
        )
        assert "circuit_open" in result.content and error is not None and "paused" in error
        assert time.perf_counter() - started < 0.1, "an open breaker answers without trying the agent"
    finally:
        await client.aclose()
        await redis.aclose()
