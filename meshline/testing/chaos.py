"""Chaos scenarios against a mesh of real processes: kill things under load and measure what users see.

Shared by the chaos suite (tests/chaos, which asserts on the outcomes) and bench/failover.py
(which prints and saves them). Every load loop is bounded in count and in time, and all
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from meshline.agents.assistant import PROFILES_DIR
from meshline.json_types import JsonObject
from meshline.testing.mesh import TestMesh, run_test_mesh

REPLICATED = "commerce"  # the agent that runs two replicas in the chaos mesh
SLOW_AGENT = "account"  # its model hangs on demand (scenario f)
HEALTH_INTERVAL_S = 1.0
BREAKER_MIN_CALLS = 5
BREAKER_COOLDOWN_S = 3.0
BREAKER_WINDOW_S = 5
PROVIDER_TIMEOUT_S = 1.5
MODEL_COOLDOWN_S = 2.0  # how long the LLM layer skips a failing model group
TURN_TIMEOUT_S = 8.0
MAX_SCENARIO_S = 180.0  # no scenario's load may run longer than this, whatever happens

CHAOS_MODELS = """\
models:
  - alias: default
    model: openai/primary-model
    api_base: {fake}
    api_key: fake
  - alias: fast
    model: openai/fake-model
    api_base: {fake}
    api_key: fake
  - alias: backup
    model: openai/fake-model
    api_base: {fake}
    api_key: fake
  - alias: slow
    model: openai/slow-model
    api_base: {fake}
    api_key: fake
llm:
  fallbacks:
    default: [backup]
"""


@dataclass(frozen=True)
class Outcome:
    """One chat request as its user experienced it."""

    started: float  # monotonic
    seconds: float
    status: int
    agent: str = ""
    degraded: bool = False
    fallbacks: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Answered in full by the agent it was meant for."""
        return self.status == 200 and not self.degraded


def p50_ms(outcomes: list[Outcome]) -> float:
    return round(statistics.median(o.seconds for o in outcomes) * 1000, 1) if outcomes else 0.0


def p99_ms(outcomes: list[Outcome]) -> float:
    if not outcomes:
        return 0.0
    ordered = sorted(o.seconds for o in outcomes)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1)


def latency(outcomes: list[Outcome]) -> dict[str, float]:
    return {"p50_ms": p50_ms(outcomes), "p99_ms": p99_ms(outcomes), "max_ms": round(1000 * max_seconds(outcomes), 1)}


def max_seconds(outcomes: list[Outcome]) -> float:
    return max((o.seconds for o in outcomes), default=0.0)


@contextmanager
def run_chaos_mesh(home: Path, provider_latency_ms: float = 20.0) -> Iterator[TestMesh]:
    """general, two replicas of commerce, and account (whose model can be made to hang), with
    fast health checks and a breaker that opens after a handful of failures."""
    home.mkdir(parents=True, exist_ok=True)
    account = yaml.safe_load((PROFILES_DIR / "account.yaml").read_text())
    slow_profile = home / "account-slow.yaml"
    slow_profile.write_text(yaml.safe_dump({**account, "model": "slow", "uses": []}))
    orchestrator = {
        "MESHLINE_ORCHESTRATOR_HEALTH_INTERVAL_S": str(HEALTH_INTERVAL_S),
        "MESHLINE_ORCHESTRATOR_BREAKER_MIN_CALLS": str(BREAKER_MIN_CALLS),
        "MESHLINE_ORCHESTRATOR_BREAKER_WINDOW_S": str(BREAKER_WINDOW_S),
        "MESHLINE_ORCHESTRATOR_BREAKER_COOLDOWN_S": str(BREAKER_COOLDOWN_S),
        "MESHLINE_ORCHESTRATOR_TURN_TIMEOUT_S": str(TURN_TIMEOUT_S),
        "MESHLINE_ORCHESTRATOR_RECALL_K": "0",
    }
    with run_test_mesh(
        home,
        provider_latency_ms,
        services={"general", REPLICATED, SLOW_AGENT},
        replicas={REPLICATED: 2},
        env={
            "orchestrator": orchestrator,
            "llm": {
                "MESHLINE_LLM_REQUEST_TIMEOUT_S": str(PROVIDER_TIMEOUT_S),
                "MESHLINE_LLM_COOLDOWN_S": str(MODEL_COOLDOWN_S),
            },
            SLOW_AGENT: {"MESHLINE_ASSISTANT_PROFILE": str(slow_profile)},
        },
        config=CHAOS_MODELS,
    ) as mesh:
        yield mesh


class Chat:
    """Chat requests against the mesh, each bounded by its own deadline plus a little slack."""

    def __init__(self, mesh: TestMesh, concurrency: int = 16) -> None:
        self.mesh = mesh
        self.http = httpx.AsyncClient(
            base_url=mesh.url,
            headers={"authorization": f"Bearer {mesh.api_key}"},
            timeout=TURN_TIMEOUT_S + 10,
            limits=httpx.Limits(max_connections=concurrency + 4),
        )

    async def __aenter__(self) -> Chat:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def one(
        self, agent: str, message: str = "where is my order 1042?", timeout_s: float | None = None
    ) -> Outcome:
        started = time.monotonic()
        body: JsonObject = {"message": message, "agent": agent}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        try:
            response = await self.http.post("/v1/chat", json=body)
        except httpx.HTTPError as exc:
            return Outcome(started, time.monotonic() - started, 0, detail=f"{type(exc).__name__}: {exc}")
        seconds = time.monotonic() - started
        if response.status_code != 200:
            return Outcome(started, seconds, response.status_code, detail=response.text[:300])
        data = response.json()
        return Outcome(
            started,
            seconds,
            200,
            agent=",".join(data["route"]["agents"]),
            degraded=bool(data.get("degraded")),
            fallbacks=dict(data.get("fallbacks") or {}),
            detail=str(data.get("content", ""))[:200],
        )

    async def load(
        self,
        agent: str,
        requests: int,
        concurrency: int,
        *,
        at: dict[int, Callable[[], Coroutine[Any, Any, None]]] | None = None,
        timeout_s: float | None = None,
    ) -> list[Outcome]:
        """``requests`` chats, ``concurrency`` at a time; ``at[n]`` runs once n chats have finished."""
        outcomes: list[Outcome] = []
        queue = iter(range(requests))
        actions = dict(at or {})
        pending_actions: list[asyncio.Task[None]] = []

        async def worker() -> None:
            for _ in queue:
                outcomes.append(await self.one(agent, timeout_s=timeout_s))
                action = actions.pop(len(outcomes), None)
                if action is not None:
                    pending_actions.append(asyncio.create_task(action()))

        async with asyncio.timeout(MAX_SCENARIO_S):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            await asyncio.gather(*pending_actions)
        return outcomes


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
