"""Bounded chat load against a test mesh, and the latency figures of its outcomes."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from meshline.json_types import JsonObject
from meshline.testing.chaos_mesh import MAX_SCENARIO_S, TURN_TIMEOUT_S
from meshline.testing.mesh import TestMesh


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
