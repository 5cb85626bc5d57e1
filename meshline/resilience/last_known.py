"""Serving the last state read from Redis while Redis is unreachable.

Redis holds the mesh's coordination state (registry, API keys, breakers, locks). Losing it
for a few seconds must not stop chat: reads fall back to the last value this process saw,
writes that can wait are skipped, and everything returns to the shared state as soon as
Redis answers again (the next successful read refreshes the copy).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from redis.exceptions import RedisError

from meshline.errors import ServiceUnavailable

log = logging.getLogger(__name__)
V = TypeVar("V")
# What a dead, restarting or unreachable Redis raises through redis-py.
REDIS_DOWN = (RedisError, OSError)


class LastKnown(Generic[V]):
    """Values last read per key; ``read`` serves them when a fresh read fails on Redis."""

    def __init__(self, what: str, max_entries: int = 10_000) -> None:
        self.what = what
        self.max_entries = max_entries
        self._values: dict[Hashable, V] = {}
        self.degraded = False

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await fetch()
        except REDIS_DOWN as exc:
            if not self.degraded:
                log.warning("redis unavailable, serving the last known %s (%s)", self.what, exc)
                self.degraded = True
            if key in self._values:
                return self._values[key]
            raise ServiceUnavailable(
                f"the {self.what} cannot be read right now (redis unavailable)", code="state_unavailable"
            ) from exc
        if self.degraded:
            log.info("redis is back: %s read from it again", self.what)
            self.degraded = False
        self._values.pop(key, None)
        self._values[key] = value  # most recent last: the oldest goes first when full
        if len(self._values) > self.max_entries:
            del self._values[next(iter(self._values))]
        return value

    def known(self) -> dict[Hashable, V]:
        """Everything last read, e.g. to restore a Redis that came back empty."""
        return dict(self._values)

    def forget(self, key: Hashable) -> None:
        self._values.pop(key, None)
