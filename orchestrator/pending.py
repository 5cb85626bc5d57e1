"""Side-effecting calls an agent asked the user to confirm, per thread and agent.

Kept in Redis, not in the agent, so that a crash of either process between the question and
the "yes" loses nothing; they expire after a few minutes (``MESHLINE_ORCHESTRATOR_PENDING_TTL_S``)
so that a forgotten question cannot be confirmed later, when the user no longer has it in mind.
The clock runs from the question: turns that leave it open do not extend it. While Redis is
unreachable they are kept in this process instead, so a confirmation asked during an outage can
still be answered on the same orchestrator.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis

from meshline.contracts import PendingCall
from meshline.resilience import REDIS_DOWN
from meshline.scoped_keys import join_key

log = logging.getLogger(__name__)
PENDING_PREFIX = "meshline:pending:"
PENDING_TTL_S = 300.0


class PendingCalls:
    def __init__(self, redis: Redis, ttl_s: float = PENDING_TTL_S) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self._local: dict[str, tuple[float, PendingCall]] = {}  # key -> (expires at, call)

    @staticmethod
    def key(thread_key: str, agent: str) -> str:
        """The question ``agent`` left open on one thread (``thread_key`` already names tenant and user)."""
        return PENDING_PREFIX + join_key(thread_key, agent)

    async def get(self, key: str) -> PendingCall | None:
        try:
            raw = await self.redis.get(key)
        except REDIS_DOWN as exc:
            log.warning("pending confirmations read locally: redis unavailable (%s)", exc)
            raw = None
        if raw is not None:
            return PendingCall.model_validate_json(raw)
        expires, call = self._local.get(key, (0.0, None))  # asked while redis was down
        return call if expires > time.time() else None

    async def put(self, key: str, call: PendingCall | None) -> None:
        """Keep ``call`` as the question open on this thread, or close it with None."""
        self._local.pop(key, None)
        try:
            if call:
                await self.redis.set(key, call.model_dump_json(), px=max(1, round(self.ttl_s * 1000)))
            else:
                await self.redis.delete(key)
        except REDIS_DOWN as exc:
            log.warning("pending confirmation kept locally: redis unavailable (%s)", exc)
            if call:
                self._local[key] = (time.time() + self.ttl_s, call)

    async def settle(self, key: str, asked: PendingCall | None, left: PendingCall | None) -> None:
        """After a turn that was handed ``asked``: the agent ``left`` the same question open (its
        clock keeps running), a new one, or none (answered, cancelled: closed)."""
        if left is None or left != asked:
            await self.put(key, left)

    async def drop(self, keys: list[str]) -> None:
        """Close these questions: the user's turn went to another agent."""
        for key in keys:
            await self.put(key, None)
