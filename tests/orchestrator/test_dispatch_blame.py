"""An agent's breaker counts the agent's faults only: turns that run out of their own (short)
deadline never open it, while the agent spending its own budget, or failing, still does; one
tenant's calls beyond its share of the agent's slots wait or fall back without touching it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from meshline.contracts.agent import AgentResult, AgentTask
from meshline.orchestrator.dispatch import AgentCaller, DispatchPolicy
from meshline.orchestrator.dispatch_outcome import DispatchFailure
from meshline.resilience.bulkhead import Bulkhead, BulkheadPolicy
from meshline.resilience.circuit_breaker import BreakerPolicy, BreakerState
from meshline.resilience.deadlines import BUDGET_TIMEOUT
from meshline.service.context import RequestContext, bind_context
from meshline.testing.serve import serve_in_thread
from meshline.testing.wait import wait_until
from tests.orchestrator.test_dispatch_resilience import answering_agent, dispatching, register

# Opens after 4 failures in 30 s: a dozen counted timeouts would open it three times over.
BREAKER = BreakerPolicy(window_s=30, min_calls=4, failure_rate=0.5, cooldown_s=60)
TASK = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "where is my order?"}])


def caller_for(
    redis_url: str, token_keys: tuple[str, str], policy: DispatchPolicy, bulkhead: Bulkhead | None = None
) -> AbstractAsyncContextManager[tuple[Redis, AgentCaller]]:
    return dispatching(redis_url, token_keys, policy, breaker_policy=BREAKER, bulkhead=bulkhead)


async def turn(caller: AgentCaller, tenant: str, timeout_s: float | None) -> tuple[AgentResult, DispatchFailure | None]:
    """One dispatch as a turn of ``tenant`` with its own deadline (a fresh request context)."""
    bind_context(RequestContext(deadline=None if timeout_s is None else time.time() + timeout_s))
    outcome = await caller.invoke(
        "commerce", TASK, tenant=tenant, user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
    )
    return outcome.result, outcome.failure


def failing_agent() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/invoke")
    async def invoke() -> JSONResponse:
        return JSONResponse({"title": "boom", "status": 500, "code": "agent_crashed"}, status_code=500)

    return app


async def test_a_dozen_turns_with_short_deadlines_never_open_the_breaker(
    redis_url: str, token_keys: tuple[str, str]
) -> None:
    policy = DispatchPolicy(reserve_s=0.2, timeouts={"commerce": 5.0})
    async with caller_for(redis_url, token_keys, policy) as (_, caller):
        with serve_in_thread(answering_agent(delay_s=2)) as slow:
            await register(caller.registry.redis, "commerce", slow)
            outcomes = await asyncio.gather(*(turn(caller, "noisy", 0.6) for _ in range(12)))
            assert all(error is not None and "deadline" in error.message for _, error in outcomes)
            assert {error.code for _, error in outcomes if error is not None} == {"deadline_exceeded"}
            assert await caller.breaker.state("commerce") is BreakerState.CLOSED
            # Another tenant's turn, with the time the agent needs, is answered by the agent itself.
            result, error = await turn(caller, "quiet", 10)
    assert error is None and result.content == "order 1042 ships today"


@pytest.mark.parametrize(
    ("agent", "policy", "timeout_s", "blamed"),
    [
        # Each turn has 5 s: the agent's own 0.3 s runs out, not the turn.
        (
            lambda: answering_agent(delay_s=2),
            DispatchPolicy(reserve_s=0.2, timeouts={"commerce": 0.3}),
            5,
            ("own budget", BUDGET_TIMEOUT),
        ),
        # Short turns, but the agent answers 500 well within them.
        (failing_agent, DispatchPolicy(reserve_s=0.2), 1.0, ("boom", "agent_crashed")),
    ],
    ids=["own-budget-spent", "answers-500"],
)
async def test_the_agents_own_faults_still_open_the_breaker(
    redis_url: str,
    token_keys: tuple[str, str],
    agent: Callable[[], FastAPI],
    policy: DispatchPolicy,
    timeout_s: float,
    blamed: tuple[str, str],
) -> None:
    async with caller_for(redis_url, token_keys, policy) as (_, caller):
        with serve_in_thread(agent()) as url:
            await register(caller.registry.redis, "commerce", url)
            for _ in range(4):
                _, error = await turn(caller, "acme", timeout_s)
                assert error is not None and (blamed[0] in error.message, error.code) == (True, blamed[1])
    assert await caller.breaker.state("commerce") is BreakerState.OPEN


async def test_a_probe_cut_by_its_callers_deadline_leaves_the_next_call_to_probe(
    redis_url: str, token_keys: tuple[str, str]
) -> None:
    policy = DispatchPolicy(reserve_s=0.2)
    async with caller_for(redis_url, token_keys, policy) as (_, caller):
        with serve_in_thread(answering_agent(delay_s=1.0)) as slow:
            await register(caller.registry.redis, "commerce", slow)
            await caller.breaker.record("commerce", ok=False, probe=True, now=time.time() - 61)  # open, cooled down
            _, error = await turn(caller, "noisy", 0.5)  # takes the half-open probe, runs out of its own time
            assert error is not None and error.code == "deadline_exceeded" and "deadline" in error.message
            assert await caller.breaker.state("commerce") is BreakerState.HALF_OPEN
            result, error = await turn(caller, "quiet", 10)  # the next call probes, and closes it
    assert error is None and result.content == "order 1042 ships today"
    assert await caller.breaker.state("commerce") is BreakerState.CLOSED


async def test_a_tenant_beyond_its_share_of_the_agent_falls_back_while_another_is_served(
    redis_url: str, token_keys: tuple[str, str]
) -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=4, max_wait_s=0.1, tenant_share=0.5))
    policy = DispatchPolicy({"commerce": "general"}, reserve_s=0.2)
    async with caller_for(redis_url, token_keys, policy, bulkhead) as (_, caller):
        with serve_in_thread(answering_agent(delay_s=1.5)) as slow, serve_in_thread(answering_agent("general")) as ok:
            await register(caller.registry.redis, "commerce", slow)
            await register(caller.registry.redis, "general", ok)
            noisy = [asyncio.create_task(turn(caller, "noisy", 10)) for _ in range(6)]
            await wait_until(lambda: sum(t.done() for t in noisy) == 4, what="the four beyond its share fell back")
            assert bulkhead.held_by("commerce", "noisy") == 2  # its share; the rest waited 0.1 s and fell back
            result, error = await turn(caller, "quiet", 10)
            noisy_outcomes = await asyncio.gather(*noisy)
    assert error is None and result.agent == "commerce"
    answered = [r.agent for r, _ in noisy_outcomes]
    assert sorted(answered) == ["commerce", "commerce", "general", "general", "general", "general"]
    assert await caller.breaker.state("commerce") is BreakerState.CLOSED
