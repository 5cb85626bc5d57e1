"""Per-tenant and per-key limits on the public API: requests per second and concurrent chat turns.

Every limited request takes a token from its key's bucket and its tenant's bucket (all keys of a
tenant share the tenant's); a chat turn (``/v1/chat``, ``/v1/chat/completions``) also holds a
slot of its key and of its tenant from admission until its response is over, stream included.
Both checks are one Redis round trip (``rate_limit_store.ADMIT_LUA``); a refusal is a 429
problem+json with ``Retry-After`` naming the limit (``rate_limited`` or
``too_many_concurrent_turns``). A key's record may override its own two limits; a tenant admin
may not give a key more than its tenant's limit (``check_grantable``), and the tenant's limit
applies to every key anyway. Platform-admin keys are held to their own, higher per-key limits
and count against no tenant. Tokens per minute and monthly budgets stay the LLM layer's
(per tenant, on the model calls a turn makes): these limits bound how many turns start, those
how much model work they consume.

Redis unreachable: this process counts on its own (:class:`LocalLimits`), logs it once and asks
Redis again after ``REDIS_RETRY_S``; chat never fails on the limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from fastapi import Request
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from meshline.errors import Forbidden, RateLimited
from meshline.orchestrator.auth import Principal, require_scope
from meshline.orchestrator.rate_limit_metrics import LimitMetrics
from meshline.orchestrator.rate_limit_store import Bucket, Check, LocalLimits, RedisLimits, Refusal, Slots
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience import REDIS_DOWN

log = logging.getLogger(__name__)
PREFIX = "meshline:limits"
REDIS_RETRY_S = 1.0  # while Redis is down, ask it again this often (not on every request)
SLOT_POLL_S = 0.05  # a turn waiting for a slot asks again this often
LimitName = Literal["key_rate", "tenant_rate", "key_turns", "tenant_turns"]


@dataclass(frozen=True)
class TenantLimit:
    rate_limit_rps: float
    max_concurrent_turns: int


@dataclass(frozen=True)
class Limit:
    name: LimitName
    value: float


@dataclass(frozen=True)
class Plan:
    """A request's check, the limit behind each of its keys (same order), and its metrics label."""

    check: Check
    limits: tuple[Limit, ...]
    label: str


def refusal_error(limit: Limit, retry_after_s: float) -> RateLimited:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s))), "X-Meshline-Limit": limit.name}
    whose = "this API key" if limit.name.startswith("key") else "this tenant (all of its keys together)"
    if limit.name.endswith("rate"):
        detail = f"{whose} may make {limit.value:g} requests per second; retry after the Retry-After seconds"
        return RateLimited(detail, code="rate_limited", headers=headers)
    detail = f"{whose} may run {limit.value:g} chat turns at once and has that many running; retry when one ends"
    return RateLimited(detail, code="too_many_concurrent_turns", headers=headers)


class ApiLimits:
    """The limiter of one orchestrator process (``app.state.rate_limits``)."""

    def __init__(self, redis: Redis, settings: OrchestratorSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.shared = RedisLimits(redis)
        self.local = LocalLimits()
        self.metrics = LimitMetrics(registry, settings.metrics_max_tenants)
        self.degraded = False
        self._retry_at = 0.0
        self._held: dict[str, tuple[Check, bool]] = {}  # lease -> (its check, held locally)
        self._releasing: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Renew the leases of running turns every third of a lease (until :meth:`aclose`)."""
        self._renewer = asyncio.create_task(self._renew_loop(), name="turn-lease-renewal")

    async def aclose(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._renewer), timeout=5)
            self._renewer.cancel()

    def tenant_limit(self, tenant: str) -> TenantLimit:
        override = self.settings.tenant_limits.get(tenant)
        rps = override.rate_limit_rps if override and override.rate_limit_rps else None
        turns = override.max_concurrent_turns if override and override.max_concurrent_turns else None
        return TenantLimit(
            rps or self.settings.tenant_rate_limit_rps, turns or self.settings.tenant_max_concurrent_turns
        )

    def check_grantable(self, tenant: str, rate_limit_rps: float | None, max_concurrent_turns: int | None) -> None:
        """A tenant admin's key may not be given more than its tenant may do (403 ``limit_not_grantable``)."""
        limit = self.tenant_limit(tenant)
        if rate_limit_rps is not None and rate_limit_rps > limit.rate_limit_rps:
            raise Forbidden(
                f"rate_limit_rps above the tenant's limit of {limit.rate_limit_rps:g}", code="limit_not_grantable"
            )
        if max_concurrent_turns is not None and max_concurrent_turns > limit.max_concurrent_turns:
            raise Forbidden(
                f"max_concurrent_turns above the tenant's limit of {limit.max_concurrent_turns}",
                code="limit_not_grantable",
            )

    def plan(self, principal: Principal, *, turn: bool) -> Plan:
        settings = self.settings
        burst_s = settings.rate_limit_burst_s
        lease = secrets.token_hex(8) if turn else ""
        if principal.platform_admin:
            # Counted against no tenant: the platform's own keys, each with its own higher limits.
            tag, label = "admin", self.metrics.label(None)
            key_rps = principal.rate_limit_rps or settings.admin_rate_limit_rps
            key_turns = principal.max_concurrent_turns or settings.admin_max_concurrent_turns
            tenant_limit = None
        else:
            tag, label = "t:" + quote(principal.tenant, safe=""), self.metrics.label(principal.tenant)
            key_rps = principal.rate_limit_rps or settings.key_rate_limit_rps
            key_turns = principal.max_concurrent_turns or settings.key_max_concurrent_turns
            tenant_limit = self.tenant_limit(principal.tenant)
        base = f"{PREFIX}:{{{tag}}}"  # one hash tag per tenant: a check's keys share a cluster slot
        key_id = quote(principal.key_id, safe="")
        buckets = [Bucket(f"{base}:rps:key:{key_id}", key_rps, max(1.0, key_rps * burst_s))]
        limits = [Limit("key_rate", key_rps)]
        if tenant_limit is not None:
            rps = tenant_limit.rate_limit_rps
            buckets.append(Bucket(f"{base}:rps:tenant", rps, max(1.0, rps * burst_s)))
            limits.append(Limit("tenant_rate", rps))
        slots: list[Slots] = []
        if turn:
            slots.append(Slots(f"{base}:turns:key:{key_id}", key_turns))
            limits.append(Limit("key_turns", key_turns))
            if tenant_limit is not None:
                slots.append(Slots(f"{base}:turns:tenant", tenant_limit.max_concurrent_turns))
                limits.append(Limit("tenant_turns", tenant_limit.max_concurrent_turns))
        check = Check(tuple(buckets), tuple(slots), lease, settings.turn_lease_s)
        return Plan(check, tuple(limits), label)

    async def admit(self, principal: Principal) -> None:
        """One request (no slot): 429 when the key's or the tenant's rate is spent."""
        await self._admit(self.plan(principal, turn=False))

    @asynccontextmanager
    async def turn(self, principal: Principal) -> AsyncIterator[None]:
        """One chat turn: rate and a slot, the slot held until the block ends (however it ends)."""
        plan = self.plan(principal, turn=True)
        check = plan.check
        local = await self._admit(plan)
        self._held[check.lease] = (check, local)
        gauge = self.metrics.turns.labels(plan.label)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
            del self._held[check.lease]
            # Shielded and referenced: a turn cancelled (client gone) still gives its slot back.
            task = asyncio.ensure_future(self._release(check, local))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
            await asyncio.shield(task)

    async def in_use(self, key: str) -> int:
        """Live slots in a slot set, from wherever this process counts now."""
        if self._use_redis():
            try:
                return await self.shared.in_use(key)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        return self.local.in_use(key)

    async def _admit(self, plan: Plan) -> bool:
        """Raise the refusal, or return whether the admission was counted locally.

        A turn that finds its slots full tries again for up to ``turn_slot_wait_s``: a client that sends
        its next turn as soon as the last reply has arrived would otherwise race that turn's release
        (which follows the last byte sent)."""
        give_up_at = time.monotonic() + self.settings.turn_slot_wait_s
        while True:
            refusal, local = await self._try(plan.check)
            if refusal is None:
                self.metrics.admitted.labels(plan.label).inc()
                return local
            waits_for_slot = refusal.position >= len(plan.check.buckets)
            if not waits_for_slot or time.monotonic() >= give_up_at:
                limit = plan.limits[refusal.position]
                self.metrics.refused.labels(plan.label, limit.name).inc()
                raise refusal_error(limit, refusal.retry_after_s)
            await asyncio.sleep(SLOT_POLL_S)

    async def _try(self, check: Check) -> tuple[Refusal | None, bool]:
        """One admission attempt: (the refusal or None, whether it was counted locally)."""
        if self._use_redis():
            try:
                refusal = await self.shared.admit(check)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
            else:
                self._redis_ok()
                return refusal, False
        return self.local.admit(check), True

    async def _release(self, check: Check, local: bool) -> None:
        if local:
            self.local.release(check)
            return
        try:
            await self.shared.release(check)
        except REDIS_DOWN as exc:
            self._redis_failed(exc)  # the lease expires on its own within turn_lease_s

    async def renew(self) -> None:
        """Extend every running turn's lease now."""
        shared = [check for check, local in self._held.values() if not local]
        self.local.renew([check for check, local in self._held.values() if local])
        if shared:
            try:
                await self.shared.renew(shared)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)

    async def _renew_loop(self) -> None:
        interval = self.settings.turn_lease_s / 3
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
            if self._stop.is_set():
                return
            try:
                await self.renew()
            except Exception:  # a bug here must not stop renewals (slots would be handed out twice)
                log.exception("renewing turn leases failed")

    def _use_redis(self) -> bool:
        return not self.degraded or time.monotonic() >= self._retry_at

    def _redis_failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + REDIS_RETRY_S
        if not self.degraded:
            # Once per outage, no traceback: an operating condition, not a bug.
            log.warning("API limits counted by this replica alone: redis unavailable (%s: %s)", type(exc).__name__, exc)
            self.degraded = True
            self.metrics.degraded.set(1)

    def _redis_ok(self) -> None:
        if self.degraded:
            log.info("API limits shared through redis again")
            self.degraded = False
            self.metrics.degraded.set(0)


def _limits(request: Request) -> ApiLimits:
    limits: ApiLimits = request.app.state.rate_limits
    return limits


def limited_request(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: the caller's principal (holding ``scope``), within its request rate."""
    require = require_scope(scope)

    async def dependency(request: Request) -> Principal:
        principal = await require(request)
        await _limits(request).admit(principal)
        return principal

    return dependency


def limited_turn(scope: str) -> Callable[[Request], AsyncIterator[Principal]]:
    """FastAPI dependency: the principal, within its rate and holding a turn slot until the response is
    sent (FastAPI ends a yield dependency after the response, a streamed body included)."""
    require = require_scope(scope)

    async def dependency(request: Request) -> AsyncIterator[Principal]:
        principal = await require(request)
        async with _limits(request).turn(principal):
            yield principal

    return dependency
