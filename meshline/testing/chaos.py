"""Chaos scenarios against a mesh of real processes: kill things under load and measure what users see.

Shared by the chaos suite (tests/chaos, which asserts on the outcomes) and bench/failover.py
(which prints and saves them). Every load loop is bounded in count and in time, and all
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from meshline.json_types import JsonObject
from meshline.testing.chaos_mesh import (
    BREAKER_COOLDOWN_S,
    BREAKER_MIN_CALLS,
    BREAKER_WINDOW_S,
    HEALTH_INTERVAL_S,
    MODEL_COOLDOWN_S,
    REPLICATED,
    SLOW_AGENT,
    TURN_TIMEOUT_S,
)
from meshline.testing.load import Chat, Outcome, latency, max_seconds
from meshline.testing.mesh import TestMesh


async def services(mesh: TestMesh) -> dict[str, JsonObject]:
    async with httpx.AsyncClient(timeout=5) as http:
        # The full listing (instances, breakers) is the platform admin's.
        response = await http.get(f"{mesh.url}/v1/services", headers={"authorization": f"Bearer {mesh.admin_key}"})
    response.raise_for_status()
    return {s["name"]: s for s in response.json()["services"]}


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.1) -> float:
    """Seconds until ``check`` holds; raises TimeoutError after ``timeout_s``."""
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - polling another process's state
            await asyncio.sleep(interval_s)
    return time.monotonic() - started


async def all_healthy(mesh: TestMesh, name: str, count: int) -> bool:
    try:
        instances = (await services(mesh))[name]["instances"]
    except (httpx.HTTPError, KeyError):
        return False
    return sum(1 for i in instances if i["healthy"]) >= count


def replica_names(mesh: TestMesh, agent: str) -> list[str]:
    return [name for name in mesh.specs if name == agent or (name.startswith(f"{agent}-") and name[-1].isdigit())]


async def replica_loss(mesh: TestMesh, requests: int = 300, concurrency: int = 16) -> JsonObject:
    """Scenario a: one of two replicas is killed a third of the way into the load."""
    victim = replica_names(mesh, REPLICATED)[-1]
    killed_at: list[float] = []

    async def kill() -> None:
        killed_at.append(time.monotonic())
        await asyncio.to_thread(mesh.kill, victim)

    async with Chat(mesh, concurrency) as chat:
        outcomes = await chat.load(REPLICATED, requests, concurrency, at={requests // 3: kill})
    await asyncio.to_thread(mesh.start, victim)
    await wait_for(lambda: all_healthy(mesh, REPLICATED, 2), 30)
    kill_time = killed_at[0]
    before = [o for o in outcomes if o.started + o.seconds < kill_time]
    during = [o for o in outcomes if o.started < kill_time + 2 and o.started + o.seconds >= kill_time]
    after = [o for o in outcomes if o.started >= kill_time + 2]
    return {
        "requests": len(outcomes),
        "errors": sum(1 for o in outcomes if not o.ok),
        "error_details": sorted({o.detail for o in outcomes if not o.ok})[:5],
        "concurrency": concurrency,
        "before": latency(before),
        "during": latency(during),
        "after": latency(after),
    }


async def kill_agent(mesh: TestMesh, agent: str) -> float:
    """SIGKILL every replica of ``agent``; returns the monotonic time of the kill."""
    killed = time.monotonic()
    for name in replica_names(mesh, agent):
        await asyncio.to_thread(mesh.kill, name)
    return killed


async def breaker(mesh: TestMesh, agent: str) -> str:
    return str((await services(mesh))[agent].get("breaker"))


async def agent_down(mesh: TestMesh, requests: int = 60, concurrency: int = 4) -> JsonObject:
    """Scenario b: every replica of an agent dies; its chats get the fallback, the others keep their pace.

    The same load runs before and during the outage (the dead agent's chats and another
    agent's), so the other agent's latencies compare like with like. Leaves the agent down
    (scenario c restarts it)."""
    other = SLOW_AGENT  # alive and not anyone's fallback here
    async with Chat(mesh, concurrency * 2) as chat:
        _, other_before = await asyncio.gather(
            chat.load(REPLICATED, requests, concurrency), chat.load(other, requests, concurrency)
        )
        # Let the agent's earlier successes leave the breaker's window: the failures it takes to
        # open are then the configured ones, not a share of what came before.
        await asyncio.sleep(BREAKER_WINDOW_S + 1)
        killed = await kill_agent(mesh, REPLICATED)
        opened: list[float] = []

        async def is_open() -> bool:
            return await breaker(mesh, REPLICATED) == "open"

        async def watch_breaker() -> None:
            await wait_for(is_open, 60, 0.05)
            opened.append(time.monotonic() - killed)

        watcher = asyncio.create_task(watch_breaker())
        down, other_during = await asyncio.gather(
            chat.load(REPLICATED, requests, concurrency), chat.load(other, requests, concurrency)
        )
        await watcher
    # The breaker counts failed calls: those made before it opened, found by their slow-path latency.
    failed_calls = [o for o in down if o.started < killed + opened[0]]
    return {
        "requests": len(down),
        "errors": sum(1 for o in down if o.status != 200),
        "fallbacks": sum(1 for o in down if o.fallbacks.get(REPLICATED) == "general"),
        "degraded_without_fallback": sum(1 for o in down if o.degraded and not o.fallbacks),
        "open_after_s": round(opened[0], 2),
        "calls_before_open": len(failed_calls),
        "max_ms": round(1000 * max_seconds(down), 1),
        "deadline_ms": TURN_TIMEOUT_S * 1000,
        "fallback": latency(down),
        "other_before": latency(other_before),
        # Once the breaker is open the dead agent costs nothing: the outage's steady state.
        "other_during": latency([o for o in other_during if o.started >= killed + opened[0]]),
        "other_during_all": latency(other_during),
        "other_errors": sum(1 for o in other_during if not o.ok),
    }


async def ensure_open(mesh: TestMesh) -> None:
    """The replicated agent down and its breaker open, whatever state an earlier scenario left."""
    alive = [name for name in replica_names(mesh, REPLICATED) if name in mesh.supervisor.procs]
    for name in alive:
        await asyncio.to_thread(mesh.kill, name)
    async with Chat(mesh, 4) as chat:
        for _ in range(BREAKER_MIN_CALLS * 4):
            if await breaker(mesh, REPLICATED) == "open":
                return
            await chat.one(REPLICATED)
    raise AssertionError(f"the breaker of {REPLICATED} did not open")


async def recovery(mesh: TestMesh, interval_s: float = 0.2) -> JsonObject:
    """Scenario c: the dead agent comes back; its breaker half-opens, one probe closes it, traffic returns."""
    await ensure_open(mesh)
    restarting = time.monotonic()
    for name in replica_names(mesh, REPLICATED):
        await asyncio.to_thread(mesh.start, name)
    restart_s = time.monotonic() - restarting  # from here every replica answers its readiness probe
    async with Chat(mesh, 2) as chat:
        outcomes: list[Outcome] = []

        async def served_by_agent() -> bool:
            outcome = await chat.one(REPLICATED)
            outcomes.append(outcome)
            return outcome.ok and not outcome.fallbacks

        recovered_after = await wait_for(served_by_agent, 60, interval_s)
        closed = await breaker(mesh, REPLICATED)
        after = await chat.load(REPLICATED, 40, 4)
    return {
        "restart_s": round(restart_s, 2),
        "recovered_after_s": round(recovered_after, 2),
        "bound_s": HEALTH_INTERVAL_S + BREAKER_COOLDOWN_S + 1.0,
        "breaker_after": closed,
        "requests_while_recovering": len(outcomes),
        "errors_while_recovering": sum(1 for o in outcomes if o.status != 200),
        "after": latency(after),
        "errors_after": sum(1 for o in after if not o.ok),
    }


async def provider_calls(mesh: TestMesh) -> dict[str, int]:
    """Chat completions the fake provider has seen so far, per model."""
    counts: dict[str, int] = {}
    for body in await asyncio.to_thread(mesh.provider_requests):
        model = str(body.get("model", ""))
        counts[model] = counts.get(model, 0) + 1
    return counts


async def provider_outage(mesh: TestMesh, mode: str, requests: int = 20, concurrency: int = 4) -> JsonObject:
    """Scenario d: the primary model answers ``mode`` (429, 500 or hang); the backup model answers instead."""
    await asyncio.sleep(MODEL_COOLDOWN_S + 0.5)  # an earlier outage's cooldown is over: the primary is tried
    seen = await provider_calls(mesh)
    await asyncio.to_thread(mesh.provider, "/_behave", "POST", model="primary-model", mode=mode)
    try:
        async with Chat(mesh, concurrency) as chat:
            outcomes = await chat.load("general", requests, concurrency, timeout_s=TURN_TIMEOUT_S)
    finally:
        await asyncio.to_thread(mesh.provider, "/_behave", "POST", model="primary-model", mode="ok")
    now = await provider_calls(mesh)
    return {
        "mode": mode,
        "requests": len(outcomes),
        "errors": sum(1 for o in outcomes if not o.ok),
        "error_details": sorted({o.detail for o in outcomes if not o.ok})[:3],
        "primary_calls": now.get("primary-model", 0) - seen.get("primary-model", 0),
        "backup_calls": now.get("fake-model", 0) - seen.get("fake-model", 0),
        "max_ms": round(1000 * max_seconds(outcomes), 1),
        "deadline_ms": TURN_TIMEOUT_S * 1000,
        **latency(outcomes),
    }


async def slow_agent(mesh: TestMesh, requests: int = 8, timeout_s: float = 4.0) -> JsonObject:
    """Scenario f: an agent whose every answer takes forever; its turns end at their deadline,
    the other agents keep their pace, and nothing is left waiting afterwards."""
    async with Chat(mesh, 8) as chat:
        other_before = await chat.load("general", 30, 2)
        await asyncio.to_thread(mesh.provider, "/_behave", "POST", model="slow-model", mode="hang")
        try:
            slow, other_during = await asyncio.gather(
                chat.load(SLOW_AGENT, requests, 4, timeout_s=timeout_s), chat.load("general", 30, 2)
            )
        finally:
            await asyncio.to_thread(mesh.provider, "/_behave", "POST", model="slow-model", mode="ok")

    async def nothing_left() -> bool:
        hanging = (await asyncio.to_thread(mesh.provider, "/_hanging"))["hanging"]
        return hanging == 0 and (await services(mesh))[SLOW_AGENT]["in_flight"] == 0

    try:
        drained_after = round(await wait_for(nothing_left, 10), 2)
    except TimeoutError:
        drained_after = -1.0
    return {
        "requests": len(slow),
        "answered": sum(1 for o in slow if o.status == 200),
        "degraded": sum(1 for o in slow if o.degraded),
        "max_ms": round(1000 * max_seconds(slow), 1),
        "deadline_ms": timeout_s * 1000,
        "other_before": latency(other_before),
        "other_during": latency(other_during),
        "other_errors": sum(1 for o in other_during if not o.ok),
        "drained_after_s": drained_after,
    }


async def redis_outage(mesh: TestMesh, requests: int = 200, concurrency: int = 4, down_s: float = 3.0) -> JsonObject:
    """Scenario e: Redis dies under load and comes back; chat answers throughout, state resynchronises."""
    marks: dict[str, float] = {}

    async def outage() -> None:
        marks["killed"] = time.monotonic()
        await asyncio.to_thread(mesh.kill_redis)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(mesh.start_redis)
        marks["restarted"] = time.monotonic()

    async with Chat(mesh, concurrency) as chat:
        outcomes = await chat.load("general", requests, concurrency, at={requests // 4: outage})
    during = [o for o in outcomes if marks["killed"] <= o.started <= marks["restarted"]]
    listed = await services(mesh)
    return {
        "requests": len(outcomes),
        "errors": sum(1 for o in outcomes if o.status != 200),
        "degraded": sum(1 for o in outcomes if o.degraded),
        "error_details": sorted({o.detail for o in outcomes if not o.ok})[:3],
        "during_outage": len(during),
        "during_outage_ok": sum(1 for o in during if o.ok),
        "services_after": sorted(listed),
        "breakers_after": {name: s.get("breaker") for name, s in listed.items() if s["kind"] == "agent"},
        **latency(outcomes),
    }
