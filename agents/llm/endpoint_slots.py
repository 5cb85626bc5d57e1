"""Concurrency per model endpoint: a server that generates one request at a time gets its calls one
at a time from this process, and the others wait here, in arrival order.

Why here rather than in litellm or the server: litellm's ``max_parallel_requests`` counts per
deployment (the bundled server backs two aliases, so two deployments) and frees its slot when a
stream opens, not when it ends; the server's own queue (llama-cpp-python's lock) knows neither
deadlines nor order. A slot is held until the call's stream ends, and never longer than the
call's timeout (plus a grace period): a response whose body is never read cannot keep it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

from meshline.agents.llm.versions import ModelVersion
from meshline.resilience import BulkheadFull, ResilienceMetrics

RELEASE_GRACE_S = 5.0


def endpoint_key(api_base: str) -> str:
    return api_base.rstrip("/")


class Slot:
    """One held slot; :meth:`release` is idempotent and also runs when the hold's time is up."""

    def __init__(self, owner: EndpointSlots, endpoint: str, hold_s: float) -> None:
        self._owner, self.endpoint = owner, endpoint
        self._released = False
        self._timer = asyncio.get_running_loop().call_later(hold_s + RELEASE_GRACE_S, self.release)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._timer.cancel()
        self._owner.give_back(self.endpoint)


class EndpointSlots:
    """Slots per limited endpoint (``api_base`` -> how many calls at once)."""

    def __init__(self, limits: Mapping[str, int], queue_s: float, metrics: ResilienceMetrics | None = None) -> None:
        self.limits = {endpoint_key(base): n for base, n in limits.items()}
        self.queue_s = queue_s
        self.metrics = metrics
        self._semaphores = {base: asyncio.Semaphore(n) for base, n in self.limits.items()}
        self._in_use = dict.fromkeys(self.limits, 0)

    def endpoint(self, version: ModelVersion) -> str | None:
        """The limited endpoint serving every deployment of ``version``, if there is one.

        A version spread over several endpoints is left to litellm's balancing: which of them a
        call reaches is decided inside the router, after a slot would have to be taken.
        """
        bases = {endpoint_key(d.api_base) if d.api_base else None for d in version.deployments}
        if len(bases) != 1:
            return None
        base = bases.pop()
        return base if base in self._semaphores else None

    def in_use(self, api_base: str) -> int:
        return self._in_use.get(endpoint_key(api_base), 0)

    async def take(self, version: ModelVersion, hold_s: float) -> Slot | None:
        """Wait up to ``queue_s`` for a slot of the version's endpoint; None when it has no limit."""
        endpoint = self.endpoint(version)
        if endpoint is None:
            return None
        try:
            await asyncio.wait_for(self._semaphores[endpoint].acquire(), timeout=self.queue_s)
        except TimeoutError as exc:
            if self.metrics is not None:
                self.metrics.bulkhead_rejections.labels(endpoint).inc()
            detail = f"the model server at {endpoint} is busy: {self.limits[endpoint]} call(s) in flight, "
            detail += f"none finished within {self.queue_s:.0f}s"
            raise BulkheadFull(detail, headers={"retry-after": str(max(1, math.ceil(self.queue_s / 4)))}) from exc
        self._count(endpoint, +1)
        return Slot(self, endpoint, hold_s)

    def give_back(self, endpoint: str) -> None:
        self._count(endpoint, -1)
        self._semaphores[endpoint].release()

    def _count(self, endpoint: str, change: int) -> None:
        self._in_use[endpoint] += change
        if self.metrics is not None:
            self.metrics.bulkhead_in_use.labels(endpoint).set(self._in_use[endpoint])


def is_busy(error: BaseException) -> bool:
    """A full endpoint queue: capacity, not the version's fault (no cooldown, no health record)."""
    return isinstance(error, BulkheadFull)
