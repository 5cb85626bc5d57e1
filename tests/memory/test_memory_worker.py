"""The write-stream worker: redelivery after a crash, idempotent upserts, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshline.contracts.memory import MemoryWrite
from meshline.embeddings import LocalEmbedder
from meshline.memory.chroma import TenantCollections, open_chroma_client
from meshline.memory.memories.store import MemoryStore
from meshline.memory.memories.write_stream import MemoryWriteJob, enqueue_write, store_jobs
from meshline.memory.memories.write_worker import MemoryWorker
from meshline.memory.settings import MemorySettings
from meshline.testing.wait import wait_until
from tests.memory.memory_harness import running_memory, wait_until_drained

Auth = Callable[..., dict[str, Any]]


@pytest.fixture
async def redis(memory_settings: MemorySettings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(memory_settings.mesh.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def store(memory_settings: MemorySettings, embedder: LocalEmbedder) -> AsyncIterator[MemoryStore]:
    client = await asyncio.to_thread(open_chroma_client, memory_settings)
    yield MemoryStore(TenantCollections(client, embedder))
    await asyncio.to_thread(client.close)


async def test_entry_left_pending_by_a_crashed_consumer_is_reclaimed(
    memory_settings: MemorySettings, embedder: LocalEmbedder, redis: aioredis.Redis, auth: Auth
) -> None:
    settings = memory_settings.model_copy(update={"worker_enabled": False})
    async with running_memory(settings, embedder) as service:
        response = await service.http.post(
            "/v1/memories", json={"id": "m1", "text": "I own a red bicycle"}, headers=auth()
        )
        assert response.status_code == 202

    # A consumer reads the entry and dies before acknowledging it.
    stream, group = settings.stream_key, settings.consumer_group
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    delivered: Any = await redis.xreadgroup(group, "crashed", {stream: ">"}, count=10)
    assert len(delivered[0][1]) == 1
    assert (await redis.xpending(stream, group))["pending"] == 1

    # A new worker reclaims entries idle longer than claim_idle_ms and stores them.
    recovering = memory_settings.model_copy(update={"claim_idle_ms": 100, "claim_interval_s": 0.1})
    async with running_memory(recovering, embedder) as service:
        await wait_until_drained(recovering)
        memories = (await service.http.get("/v1/memories", headers=auth())).json()["memories"]
        assert [(m["id"], m["text"]) for m in memories] == [("m1", "I own a red bicycle")]
        hits = (await service.http.post("/v1/memories/search", json={"query": "bike"}, headers=auth())).json()
        assert hits["hits"][0]["id"] == "m1"


async def test_upserting_a_write_twice_keeps_one_record(store: MemoryStore, embedder: LocalEmbedder) -> None:
    job = MemoryWriteJob.accept("acme", "alice", MemoryWrite(id="dup", text="I like jazz"))
    await store_jobs([job], store, embedder)
    await store_jobs([job], store, embedder)  # a redelivery
    await store_jobs([job, job], store, embedder)  # the same entry twice in one batch
    exported = await store.export("acme", "alice")
    assert [(m.id, m.text) for m in exported] == [("dup", "I like jazz")]


async def test_malformed_entry_goes_to_the_dead_letter_stream(
    memory_settings: MemorySettings, store: MemoryStore, embedder: LocalEmbedder, redis: aioredis.Redis
) -> None:
    worker = MemoryWorker(redis, store, embedder, memory_settings, consumer="w1")
    await worker.ensure_group()
    good = MemoryWriteJob.accept("acme", "alice", MemoryWrite(id="ok", text="I live in Porto"))
    await enqueue_write(redis, memory_settings.stream_key, good)
    await redis.xadd(memory_settings.stream_key, {"tenant": "acme", "user": "alice", "metadata": "{bad"})

    await worker.process(await worker.read())

    dead: Any = await redis.xrange(memory_settings.dead_letter_key)
    assert len(dead) == 1
    assert "malformed" in dead[0][1]["error"]
    assert [m.id for m in await store.export("acme", "alice")] == ["ok"]
    assert await redis.xlen(memory_settings.stream_key) == 0


async def test_entry_failing_max_deliveries_is_dead_lettered(
    memory_settings: MemorySettings, store: MemoryStore, embedder: LocalEmbedder, redis: aioredis.Redis
) -> None:
    settings = memory_settings.model_copy(update={"claim_idle_ms": 0, "max_deliveries": 2})
    worker = MemoryWorker(redis, store, embedder, settings, consumer="w1")
    await worker.ensure_group()
    job = MemoryWriteJob.accept("acme", "alice", MemoryWrite(id="poison", text="never stored"))
    entry_id = await enqueue_write(redis, settings.stream_key, job)
    stream, group = settings.stream_key, settings.consumer_group
    await redis.xreadgroup(group, "crashed-1", {stream: ">"})  # delivery 1
    await redis.xclaim(stream, group, "crashed-2", 0, [entry_id])  # delivery 2

    await worker.reclaim()

    dead: Any = await redis.xrange(settings.dead_letter_key)
    assert [(d[1]["entry_id"], d[1]["id"], d[1]["text"]) for d in dead] == [(entry_id, "poison", "never stored")]
    assert (await redis.xpending(stream, group))["pending"] == 0
    assert await store.export("acme", "alice") == []


async def test_worker_recreates_a_lost_group_and_keeps_consuming(
    memory_settings: MemorySettings, store: MemoryStore, embedder: LocalEmbedder, redis: aioredis.Redis
) -> None:
    worker = MemoryWorker(redis, store, embedder, memory_settings)
    worker.start()
    try:
        await wait_until(lambda: redis.exists(memory_settings.stream_key), what="the worker made its group")
        await redis.delete(memory_settings.stream_key)  # stream and group gone (e.g. a flushed Redis)
        job = MemoryWriteJob.accept("acme", "alice", MemoryWrite(id="late", text="I moved to Faro"))
        await enqueue_write(redis, memory_settings.stream_key, job)
        await wait_until_drained(memory_settings)
        assert [m.id for m in await store.export("acme", "alice")] == ["late"]
        assert worker.alive
    finally:
        await worker.stop(timeout_s=5)
    assert not worker.alive
    consumers = await redis.xinfo_consumers(memory_settings.stream_key, memory_settings.consumer_group)
    assert worker.consumer not in [c["name"] for c in consumers]  # left the group: nothing was pending
