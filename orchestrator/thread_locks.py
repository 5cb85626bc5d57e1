"""One turn at a time per thread, across every orchestrator replica.

The lock lives in Redis so replicas agree. While Redis is unreachable each process falls back
to a lock of its own: turns of one thread on one replica still run one at a time, and chat
goes on instead of failing on the lock.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import LockError

from meshline.errors import Conflict
from meshline.resilience import REDIS_DOWN

log = logging.getLogger(__name__)
LOCK_KEY = "meshline:thread-lock:{key}"
LOCK_SLACK_S = 30.0  # a lock outlives its turn's budget by this much, in case its holder dies


class ThreadLocks:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, thread_key: str, budget_s: float) -> AsyncIterator[None]:
        """Wait up to ``budget_s`` for the thread, then 409 thread_busy."""
        busy = Conflict("another turn on this thread is still running", code="thread_busy", retryable=True)
        lock = self.redis.lock(
            LOCK_KEY.format(key=thread_key), timeout=budget_s + LOCK_SLACK_S, blocking_timeout=budget_s
        )
        try:
            acquired = await lock.acquire()
        except REDIS_DOWN as exc:
            log.warning("thread lock held locally: redis unavailable (%s)", exc)
            async with self._held_locally(thread_key, budget_s, busy):
                yield
            return
        if not acquired:
            raise busy
        try:
            yield
        finally:
            try:
                await lock.release()
            except (LockError, *REDIS_DOWN) as exc:  # expired or unreachable: it times out by itself
                log.warning("thread lock of %s not released: %s", thread_key, exc)

    @asynccontextmanager
    async def _held_locally(self, thread_key: str, budget_s: float, busy: Conflict) -> AsyncIterator[None]:
        local = self._local.get(thread_key)
        if local is None:
            local = self._local[thread_key] = asyncio.Lock()
        try:
            await asyncio.wait_for(local.acquire(), timeout=budget_s)
        except TimeoutError:
            raise busy from None
        try:
            yield
        finally:
            local.release()
