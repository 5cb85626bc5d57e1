"""A Redis Stream consumer-group loop shared by the memory writes and the knowledge-base ingestion.

At-least-once: an entry is acknowledged (and deleted from the stream) only after
:meth:`StreamConsumer.process` has handled it. Entries left pending by a crashed consumer are
reclaimed once idle for ``claim_idle_ms`` (on start and every ``claim_interval_s``); an entry
delivered ``max_deliveries`` times moves to the dead-letter stream. Subclasses say what
processing an entry means and must keep it idempotent, because redelivery repeats it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from meshline.json_types import JsonObject
from meshline.memory.settings import MemorySettings

Entry = tuple[str, dict[str, str]]
DEAD_LETTER_MAXLEN = 10_000
RECLAIM_ROUNDS = 100
ERROR_BACKOFF_S = 1.0
log = logging.getLogger(__name__)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class StreamConfig:
    """Which stream a consumer reads and how it paces, reclaims and gives up."""

    stream: str
    group: str
    dead_letter_key: str
    batch_size: int = 32
    block_ms: int = 2000
    claim_idle_ms: int = 30_000
    claim_interval_s: float = 10.0
    max_deliveries: int = 5
    dead_letter_max: int = DEAD_LETTER_MAXLEN
    dead_letter_ttl_s: int | None = None

    @classmethod
    def for_stream(
        cls,
        settings: MemorySettings,
        *,
        stream: str,
        group: str,
        dead_letter_key: str,
        batch_size: int,
        dead_letter_max: int = DEAD_LETTER_MAXLEN,
        dead_letter_ttl_s: int | None = None,
    ) -> StreamConfig:
        """A stream's own names and batch size, with the pacing every worker shares from settings."""
        return cls(
            stream=stream,
            group=group,
            dead_letter_key=dead_letter_key,
            batch_size=batch_size,
            block_ms=settings.worker_block_ms,
            claim_idle_ms=settings.claim_idle_ms,
            claim_interval_s=settings.claim_interval_s,
            max_deliveries=settings.max_deliveries,
            dead_letter_max=dead_letter_max,
            dead_letter_ttl_s=dead_letter_ttl_s,
        )


class StreamConsumer(ABC):
    """One consumer of a stream's group (run several processes to scale out)."""

    label = "stream worker"

    def __init__(self, redis: aioredis.Redis, config: StreamConfig, consumer: str | None = None) -> None:
        self.redis = redis
        self.config = config
        self.consumer = consumer or consumer_name()
        self.stream = config.stream
        self.group = config.group
        self._stopping = asyncio.Event()
        self._reading = False
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def process(self, entries: list[Entry]) -> None:
        """Handle entries and acknowledge those done; unacknowledged ones are redelivered."""

    def start(self) -> asyncio.Task[None]:
        """Run the consumer loop as a background task."""
        self._task = asyncio.create_task(self.run(), name=f"{self.label}-{self.consumer}")
        return self._task

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop consuming: a blocked read is cancelled at once, a batch in progress may finish."""
        self._stopping.set()
        task = self._task
        if task is None:
            return
        if self._reading:
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            task.cancel()
            await asyncio.wait({task})
        await self.close()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless it exists; it starts at the first entry."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Consume until stopped; Redis outages are logged and retried, never fatal."""
        loop = asyncio.get_running_loop()
        next_claim = 0.0
        group_ready = False
        while not self._stopping.is_set():
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                if loop.time() >= next_claim:
                    await self.reclaim()
                    next_claim = loop.time() + self.config.claim_interval_s
                self._reading = True
                try:
                    entries = await self.read()
                finally:
                    self._reading = False
                if entries:
                    await self.process(entries)
            except ResponseError as exc:
                group_ready = False  # a deleted stream or flushed Redis loses the group: recreate it
                log.warning("%s: redis error: %s", self.label, exc)
                await self._pause(0 if "NOGROUP" in str(exc) else ERROR_BACKOFF_S)
            except (RedisError, OSError) as exc:
                log.warning("%s: redis unavailable: %s", self.label, exc)
                await self._pause(ERROR_BACKOFF_S)
            except Exception:  # keep consuming; unacked entries are redelivered
                log.exception("%s: unexpected failure", self.label)
                await self._pause(ERROR_BACKOFF_S)

    async def read(self) -> list[Entry]:
        """New entries for this consumer (blocks up to ``block_ms``)."""
        response: Any = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.config.batch_size,
            block=self.config.block_ms,
        )
        if not response:
            return []
        if isinstance(response, dict):  # RESP3 shape
            return [entry for entries in response.values() for entry in entries[0]]
        return [entry for _stream, entries in response for entry in entries]

    async def reclaim(self) -> int:
        """Take over entries pending longer than ``claim_idle_ms``; returns how many were handled."""
        handled = 0
        for _ in range(RECLAIM_ROUNDS):
            pending: list[JsonObject] = await self.redis.xpending_range(
                self.stream,
                self.group,
                min="-",
                max="+",
                count=self.config.batch_size,
                idle=self.config.claim_idle_ms,
            )
            if not pending:
                break
            retry: list[Any] = []
            for item in pending:
                entry_id = str(item["message_id"])
                if int(item["times_delivered"]) >= self.config.max_deliveries:
                    await self.dead_letter(entry_id, f"failed {item['times_delivered']} deliveries")
                else:
                    retry.append(entry_id)
            if retry:
                claimed: list[Any] = await self.redis.xclaim(
                    self.stream, self.group, self.consumer, self.config.claim_idle_ms, retry
                )
                entries = [(str(i), f) for i, f in claimed if f is not None]
                if entries:
                    log.info("%s %s reclaimed %d pending entries", self.label, self.consumer, len(entries))
                    await self.process(entries)
            handled += len(pending)
        return handled

    async def ack(self, entry_ids: list[str]) -> None:
        """Acknowledge and delete: with one group, a handled entry has no further reader."""
        if not entry_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, *entry_ids)
            pipe.xdel(self.stream, *entry_ids)
            await pipe.execute()

    def dead_letter_record(self, fields: dict[str, str]) -> dict[str, str]:
        """What of an entry its dead letter keeps (all of it, unless a subclass says less)."""
        return fields

    async def dead_letter(self, entry_id: str, reason: str, fields: dict[str, str] | None = None) -> None:
        """Move an entry to the dead-letter stream (with the reason) and acknowledge it. The
        dead-letter stream is capped (approximate MAXLEN) and, with a TTL, trimmed by age."""
        if fields is None:
            found: Any = await self.redis.xrange(self.stream, min=entry_id, max=entry_id)
            fields = dict(found[0][1]) if found else {}
        # A warning, not an error with a traceback: a document refused for its content is expected.
        log.warning("%s: dead-lettering %s: %s", self.label, entry_id, reason)
        now = time.time()
        record = {
            **self.dead_letter_record(fields),
            "entry_id": entry_id,
            "error": reason[:1000],
            "failed_at": repr(now),
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(
                self.config.dead_letter_key,
                record,  # type: ignore[arg-type]
                maxlen=self.config.dead_letter_max,
                approximate=True,
            )
            if self.config.dead_letter_ttl_s is not None:
                oldest = int((now - self.config.dead_letter_ttl_s) * 1000)
                pipe.xtrim(self.config.dead_letter_key, minid=str(oldest), approximate=True)
            await pipe.execute()
        await self.ack([entry_id])

    async def close(self) -> None:
        """Leave the group if nothing is pending on this consumer (else another worker reclaims it)."""
        try:
            consumers: list[JsonObject] = await self.redis.xinfo_consumers(self.stream, self.group)
            mine = [c for c in consumers if c.get("name") == self.consumer]
            if mine and int(mine[0].get("pending", 0)) == 0:
                await self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except (RedisError, OSError) as exc:
            log.info("%s: could not leave the consumer group: %s", self.label, exc)
