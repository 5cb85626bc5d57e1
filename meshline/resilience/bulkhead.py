"""Bulkhead per target: bounded concurrent calls and a bounded wait, then a fast 503.

One slow agent must not hold every connection and task of the orchestrator: each target gets
``max_concurrent`` slots; a call waits at most ``max_wait_s`` for one and is otherwise rejected
at once with 503 + Retry-After, which callers (and the SDK) treat as retryable.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from meshline.errors import ServiceUnavailable
from meshline.resilience.metrics import ResilienceMetrics


@dataclass(frozen=True)
class BulkheadPolicy:
    max_concurrent: int = 32
    max_wait_s: float = 0.5


class BulkheadFull(ServiceUnavailable):
    code, title = "bulkhead_full", "Too many concurrent calls"


class Bulkhead:
    """Slots per target name, created on first use."""

    def __init__(self, policy: BulkheadPolicy | None = None, metrics: ResilienceMetrics | None = None) -> None:
        self.policy = policy or BulkheadPolicy()
        self.metrics = metrics
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._in_use: dict[str, int] = {}

    def in_use(self, target: str) -> int:
        return self._in_use.get(target, 0)

    @asynccontextmanager
    async def slot(self, target: str) -> AsyncIterator[None]:
        semaphore = self._slots.setdefault(target, asyncio.Semaphore(self.policy.max_concurrent))
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=self.policy.max_wait_s)
        except TimeoutError as exc:
            if self.metrics is not None:
                self.metrics.bulkhead_rejections.labels(target).inc()
            retry_after = str(max(1, math.ceil(self.policy.max_wait_s)))
            detail = f"{target} already has {self.policy.max_concurrent} calls in flight"
            raise BulkheadFull(detail, headers={"retry-after": retry_after}) from exc
        self._count(target, +1)
        try:
            yield
        finally:
            self._count(target, -1)
            semaphore.release()

    def _count(self, target: str, change: int) -> None:
        self._in_use[target] = self._in_use.get(target, 0) + change
        if self.metrics is not None:
            self.metrics.bulkhead_in_use.labels(target).set(self._in_use[target])
