"""The memory write worker: consumes memory writes from Redis and upserts them into Chroma.

The consumer-group mechanics (reclaiming, dead letters, stopping) live in
:mod:`meshline.memory.stream_consumer`. Upserts are by id, so a redelivered entry replaces its
record instead of duplicating it.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from meshline.embeddings import Embedder
from meshline.memory.memories.store import MemoryStore
from meshline.memory.memories.write_stream import MemoryWriteJob, store_jobs
from meshline.memory.settings import MemorySettings
from meshline.memory.stream_consumer import Entry, StreamConfig, StreamConsumer

log = logging.getLogger(__name__)


class MemoryWorker(StreamConsumer):
    """One consumer of the memory write stream."""

    label = "memory worker"

    def __init__(
        self,
        redis: aioredis.Redis,
        store: MemoryStore,
        embedder: Embedder,
        settings: MemorySettings,
        consumer: str | None = None,
    ) -> None:
        config = StreamConfig.for_stream(
            settings,
            stream=settings.stream_key,
            group=settings.consumer_group,
            dead_letter_key=settings.dead_letter_key,
            batch_size=settings.embed_batch_size,
        )
        super().__init__(redis, config, consumer)
        self.store = store
        self.embedder = embedder
        self.settings = settings

    async def process(self, entries: list[Entry]) -> None:
        """Store a batch; on failure retry one by one so one bad record cannot block the others."""
        jobs: list[tuple[str, MemoryWriteJob]] = []
        for entry_id, fields in entries:
            try:
                jobs.append((entry_id, MemoryWriteJob.from_fields(fields)))
            except ValueError as exc:
                await self.dead_letter(entry_id, str(exc), fields)
        if not jobs:
            return
        try:
            await store_jobs([job for _, job in jobs], self.store, self.embedder)
            await self.ack([entry_id for entry_id, _ in jobs])
            return
        except Exception as exc:
            if len(jobs) == 1:
                log.warning("memory worker: write %s failed, will be redelivered: %s", jobs[0][0], exc)
                return
            log.warning("memory worker: batch of %d failed (%s); storing one by one", len(jobs), exc)
        for entry_id, job in jobs:
            try:
                await store_jobs([job], self.store, self.embedder)
            except Exception as exc:
                log.warning("memory worker: write %s failed, will be redelivered: %s", entry_id, exc)
                continue
            await self.ack([entry_id])
