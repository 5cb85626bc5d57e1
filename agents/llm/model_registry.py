"""The model registry in Redis: one JSON document, a revision counter, and a change history.

Every change runs as an optimistic transaction (WATCH the document, apply a pure transition
from :mod:`meshline.agents.llm.versions`, write it back with the revision bumped and a history
entry), so concurrent admins and replicas never lose each other's changes. Replicas poll the
revision counter (one tiny GET every ``poll_interval_s``) and reload when it moves: a change
reaches every replica within a second without a Redis round trip on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from meshline.agents.llm.versions import Registry
from meshline.contracts import ChangeDetail, RegistryEvent

log = logging.getLogger(__name__)
PREFIX = "meshline:llm:registry"
DOC_KEY, REV_KEY, HISTORY_KEY = PREFIX, f"{PREFIX}:rev", f"{PREFIX}:history"
HISTORY_LIMIT = 1000
_MAX_TRIES = 20

Transition = Callable[[Registry], Any]


class ModelRegistryStore:
    """Reads and changes the registry document; ``watch`` keeps a replica's copy current."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def load(self) -> Registry:
        raw = await self._redis.get(DOC_KEY)
        return Registry.model_validate_json(raw) if raw else Registry()

    async def change(
        self, transition: Transition, *, who: str, action: str, alias: str, detail: ChangeDetail
    ) -> tuple[Registry, Any]:
        """Apply ``transition`` atomically; returns the new registry and what the transition returned.

        A transition that returns ``False`` changes nothing (no revision, no history entry).
        """
        for _ in range(_MAX_TRIES):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(DOC_KEY)
                    raw = await pipe.get(DOC_KEY)
                    registry = Registry.model_validate_json(raw) if raw else Registry()
                    result = transition(registry)  # raises MeshlineError on a refused change
                    if result is False:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return registry, result
                    registry.revision += 1
                    entry = {"at": time.time(), "who": who, "action": action, "alias": alias, **detail}
                    entry["revision"] = registry.revision
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(DOC_KEY, registry.model_dump_json())
                    pipe.set(REV_KEY, registry.revision)
                    pipe.lpush(HISTORY_KEY, json.dumps(entry))
                    pipe.ltrim(HISTORY_KEY, 0, HISTORY_LIMIT - 1)
                    await pipe.execute()
                    return registry, result
                except WatchError:
                    continue
        raise RuntimeError("the model registry changed too often to apply a change; try again")

    async def history(self, alias: str | None = None, limit: int = 50) -> list[RegistryEvent]:
        """Most recent first; optionally one alias's entries only."""
        raw = await self._redis.lrange(HISTORY_KEY, 0, HISTORY_LIMIT - 1)
        entries = [RegistryEvent.model_validate_json(item) for item in raw]
        if alias is not None:
            entries = [e for e in entries if e.alias == alias]
        return entries[:limit]

    async def watch(
        self, current: int, on_change: Callable[[Registry], Awaitable[None]], interval_s: float, stop: asyncio.Event
    ) -> None:
        """Call ``on_change`` with the new registry whenever the revision moves past ``current``."""
        seen = current
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            if stop.is_set():
                return
            try:
                raw = await self._redis.get(REV_KEY)
                if raw is None or int(raw) == seen:
                    continue
                registry = await self.load()
                await on_change(registry)
                seen = registry.revision
            except RedisError as exc:  # Redis away: keep serving the last known registry
                log.warning("cannot poll the model registry: %s", exc)
            except Exception:
                log.exception("reloading the model registry failed")
