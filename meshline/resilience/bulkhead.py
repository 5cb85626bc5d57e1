"""Bulkhead per target, shared fairly between tenants: bounded calls, a bounded wait, then a fast 503.

One slow agent must not hold every connection and task of the orchestrator, and one tenant must
not hold every slot of an agent: each target has ``max_concurrent`` slots, of which one tenant
holds at most ``tenant_share`` (at least one slot), so the rest stay free for the others. A call
waits at most ``max_wait_s`` for a slot and is otherwise rejected at once with 503 + Retry-After,
which callers (and the SDK) treat as retryable. Waiters are served round-robin across tenants and
first come, first served within one, so a tenant that queues many calls delays only itself.

The slots are this process's: every orchestrator replica has its own bulkhead, because it bounds
this process's connections and tasks (a Redis round trip per call would cost more than it guards).
How long a slot is held is the caller's to bound: dispatch runs the wait and the call inside the
turn's deadline, and cancelling a holder or a waiter frees what it held.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from meshline.errors import ServiceUnavailable
from meshline.resilience.metrics import ResilienceMetrics

# Calls that name no tenant share the total only (nothing in the orchestrator makes one: dispatch
# always names the turn's tenant).
Tenant = str | None


@dataclass(frozen=True)
class BulkheadPolicy:
    max_concurrent: int = 32
    max_wait_s: float = 0.5
    tenant_share: float = 0.5  # of max_concurrent one tenant may hold

    def tenant_cap(self) -> int:
        return max(1, math.floor(self.max_concurrent * self.tenant_share))


class BulkheadFull(ServiceUnavailable):
    code, title = "bulkhead_full", "Too many concurrent calls"


@dataclass
class _Slots:
    """One target's slots: who holds them, and who waits, per tenant in round-robin order."""

    in_use: int = 0
    held: dict[Tenant, int] = field(default_factory=dict)
    waiting: OrderedDict[Tenant, deque[asyncio.Future[None]]] = field(default_factory=OrderedDict)


class Bulkhead:
    """Slots per target name, created on first use."""

    def __init__(self, policy: BulkheadPolicy | None = None, metrics: ResilienceMetrics | None = None) -> None:
        self.policy = policy or BulkheadPolicy()
        self.metrics = metrics
        self._targets: dict[str, _Slots] = {}

    def in_use(self, target: str) -> int:
        slots = self._targets.get(target)
        return 0 if slots is None else slots.in_use

    def held_by(self, target: str, tenant: Tenant) -> int:
        slots = self._targets.get(target)
        return 0 if slots is None else slots.held.get(tenant, 0)

    def waiting(self, target: str) -> int:
        slots = self._targets.get(target)
        return 0 if slots is None else sum(len(queue) for queue in slots.waiting.values())

    @asynccontextmanager
    async def slot(self, target: str, tenant: Tenant = None) -> AsyncIterator[None]:
        slots = self._targets.setdefault(target, _Slots())
        await self._acquire(target, slots, tenant)
        try:
            yield
        finally:
            self._release(target, slots, tenant)

    def _may_take(self, slots: _Slots, tenant: Tenant) -> bool:
        if slots.in_use >= self.policy.max_concurrent:
            return False
        return tenant is None or slots.held.get(tenant, 0) < self.policy.tenant_cap()

    async def _acquire(self, target: str, slots: _Slots, tenant: Tenant) -> None:
        if not slots.waiting.get(tenant) and self._may_take(slots, tenant):
            self._take(target, slots, tenant)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        slots.waiting.setdefault(tenant, deque()).append(granted)
        try:
            async with asyncio.timeout(self.policy.max_wait_s):
                await granted
        except BaseException as exc:  # timed out or cancelled (the deadline, say): leave the queue
            self._withdraw(target, slots, tenant, granted)
            if isinstance(exc, TimeoutError):
                raise self._rejection(target, slots, tenant) from exc
            raise

    def _withdraw(self, target: str, slots: _Slots, tenant: Tenant, granted: asyncio.Future[None]) -> None:
        queue = slots.waiting.get(tenant)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del slots.waiting[tenant]
        elif granted.done() and not granted.cancelled():  # granted as the wait ended: hand it on
            self._release(target, slots, tenant)

    def _release(self, target: str, slots: _Slots, tenant: Tenant) -> None:
        held = slots.held[tenant] - 1
        if held:
            slots.held[tenant] = held
        else:
            del slots.held[tenant]
        self._count(target, slots, -1)
        self._serve_waiters(target, slots)

    def _serve_waiters(self, target: str, slots: _Slots) -> None:
        """Hand free slots to the first waiter of each tenant below its share, tenant after tenant."""
        while slots.in_use < self.policy.max_concurrent:
            for tenant in slots.waiting:
                if self._may_take(slots, tenant):
                    break
            else:
                return
            queue = slots.waiting[tenant]
            granted = queue.popleft()
            if queue:
                slots.waiting.move_to_end(tenant)  # its next waiter goes behind the other tenants'
            else:
                del slots.waiting[tenant]
            if not granted.done():  # a cancelled waiter has left already; skip it in case it has not
                self._take(target, slots, tenant)
                granted.set_result(None)

    def _take(self, target: str, slots: _Slots, tenant: Tenant) -> None:
        slots.held[tenant] = slots.held.get(tenant, 0) + 1
        self._count(target, slots, +1)

    def _rejection(self, target: str, slots: _Slots, tenant: Tenant) -> BulkheadFull:
        if self.metrics is not None:
            self.metrics.bulkhead_rejections.labels(target).inc()
        retry_after = str(max(1, math.ceil(self.policy.max_wait_s)))
        cap = self.policy.tenant_cap()
        if tenant is not None and slots.held.get(tenant, 0) >= cap:
            detail = f"{target} already has {cap} calls of this tenant in flight (its share of {target}'s slots)"
        else:
            detail = f"{target} already has {self.policy.max_concurrent} calls in flight"
        return BulkheadFull(detail, headers={"retry-after": retry_after})

    def _count(self, target: str, slots: _Slots, change: int) -> None:
        slots.in_use += change
        if self.metrics is not None:
            self.metrics.bulkhead_in_use.labels(target).set(slots.in_use)
