"""Ingestion survives a crashed worker (exact counts, no duplicates) and runs against a Chroma server."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from meshline.cli.ports import free_port
from meshline.embeddings import LocalEmbedder
from meshline.errors import ServiceUnavailable
from meshline.memory.chroma import TenantCollections, open_chroma_client
from meshline.memory.knowledge_bases.ingest_stream import enqueue_documents
from meshline.memory.knowledge_bases.ingest_worker import IngestWorker
from meshline.memory.knowledge_bases.lexical import LexicalIndexes
from meshline.memory.knowledge_bases.parse_pool import ParsePool, sandbox_limits
from meshline.memory.knowledge_bases.quota import queued
from meshline.memory.knowledge_bases.store import KnowledgeBaseStore
from meshline.memory.knowledge_bases.uploads import DocumentUpload
from meshline.memory.settings import MemorySettings
from meshline.testing.wait import WaitTimeout, wait_until_sync
from tests.memory.knowledge_harness import wait_for_job
from tests.memory.memory_harness import running_memory

DOCS = 60


class CrashBeforeAck(IngestWorker):
    """Stores and counts its second batch, then dies before acknowledging it."""

    acks = 0

    async def ack(self, entry_ids: list[str]) -> None:
        self.acks += 1
        if self.acks == 2:
            raise RuntimeError("killed before XACK")
        await super().ack(entry_ids)


@pytest.fixture
async def knowledge(memory_settings: MemorySettings, embedder: LocalEmbedder) -> AsyncIterator[KnowledgeBaseStore]:
    client = await asyncio.to_thread(open_chroma_client, memory_settings)
    yield KnowledgeBaseStore(TenantCollections(client, embedder))
    await asyncio.to_thread(client.close)


async def test_a_crashed_worker_s_job_completes_with_every_document_exactly_once(
    memory_settings: MemorySettings,
    embedder: LocalEmbedder,
    knowledge: KnowledgeBaseStore,
    issue_token: Callable[..., str],
) -> None:
    headers = {"Authorization": f"Bearer {issue_token('memory', scopes=('knowledge:write', 'knowledge:read'))}"}
    documents = [{"id": f"doc-{i}", "text": f"Policy number {i}: item {i} ships in {i % 7} days."} for i in range(DOCS)]
    queue_only = memory_settings.model_copy(update={"worker_enabled": False, "ingest_batch_documents": 10})
    async with running_memory(queue_only, embedder) as service:
        response = await service.http.post(
            "/v1/collections/default/documents", json={"documents": documents}, headers=headers
        )
        job_id = response.json()["job_id"]

    redis = aioredis.Redis.from_url(memory_settings.mesh.redis_url, decode_responses=True)
    lexical = LexicalIndexes(knowledge, redis)
    parser = ParsePool(sandbox_limits(queue_only))
    await parser.start()
    crashing = CrashBeforeAck(redis, knowledge, lexical, embedder, queue_only, parser, consumer="crashing")
    await crashing.ensure_group()
    await crashing.process(await crashing.read())  # batch 1: stored and acknowledged
    with pytest.raises(RuntimeError):
        await crashing.process(await crashing.read())  # batch 2: stored and counted, never acknowledged
    await parser.close()
    # Another consumer takes batch 3 and dies without doing anything.
    await redis.xreadgroup(queue_only.ingest_group, "vanished", {queue_only.ingest_stream_key: ">"}, count=10)
    assert (await redis.xpending(queue_only.ingest_stream_key, queue_only.ingest_group))["pending"] == 20

    recovering = memory_settings.model_copy(
        update={"ingest_batch_documents": 10, "claim_idle_ms": 50, "claim_interval_s": 0.1}
    )
    async with running_memory(recovering, embedder) as service:
        job = await wait_for_job(service.http, job_id, headers)
        assert (job["state"], job["total"], job["done"], job["failed"]) == ("completed", DOCS, DOCS, 0)
    assert (await redis.xpending(recovering.ingest_stream_key, recovering.ingest_group))["pending"] == 0
    assert await redis.xlen(recovering.ingest_stream_key) == 0
    await redis.aclose()

    collection = await knowledge.collection("acme", "default")
    stored = await asyncio.to_thread(lambda: collection.get(include=["metadatas"]))
    assert sorted(stored["ids"]) == sorted(f"doc-{i}#0" for i in range(DOCS))  # each exactly once


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (``chroma run``, shipped by the chromadb package) on a free port."""
    port = free_port()
    path: Path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def beating() -> bool:
        try:
            return httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with contextlib.suppress(WaitTimeout):
        wait_until_sync(lambda: beating() or proc.poll() is not None, timeout=30, interval=0.2)
    if proc.poll() is not None or not beating():
        proc.kill()
        raise RuntimeError("chroma server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


async def test_memory_service_runs_on_a_chroma_server(
    memory_settings: MemorySettings,
    embedder: LocalEmbedder,
    chroma_server: str,
    issue_token: Callable[..., str],
    auth: Callable[..., dict[str, Any]],
) -> None:
    settings = memory_settings.model_copy(update={"chroma_url": chroma_server, "chroma_path": None})
    writer = {"Authorization": f"Bearer {issue_token('memory', scopes=('knowledge:write', 'knowledge:read'))}"}
    async with running_memory(settings, embedder) as service:
        assert (await service.http.get("/readyz")).status_code == 200
        docs = [{"id": "refunds", "title": "Refunds", "text": "Refunds reach your card within 5 business days."}]
        accepted = (
            await service.http.post("/v1/collections/default/documents", json={"documents": docs}, headers=writer)
        ).json()
        assert (await wait_for_job(service.http, accepted["job_id"], writer))["done"] == 1
        hits = (
            await service.http.post("/v1/search", json={"query": "when do I get my refund"}, headers=auth())
        ).json()["hits"]
        assert hits[0]["document_id"] == "refunds"
        stored = await service.http.post("/v1/memories?wait=true", json={"text": "I prefer email"}, headers=auth())
        assert stored.status_code == 201
        other = await service.http.post("/v1/search", json={"query": "refund"}, headers=auth(tenant="globex"))
        assert other.json()["hits"] == []
    # The data lives in the server, not in the embedded directory.
    assert not (memory_settings.resolved_chroma_path() / "chroma.sqlite3").exists()


class TimesOutOnFlaky(KnowledgeBaseStore):
    """A store whose writes time out whenever document ``flaky`` is among them (a transient fault)."""

    async def replace_documents(self, tenant: str, name: str, documents: Any) -> int:
        if any(doc_id == "flaky" for doc_id, _, _ in documents):
            raise ServiceUnavailable("vector store did not answer within 10s", code="chroma_timeout")
        return await super().replace_documents(tenant, name, documents)


async def test_a_document_failing_transiently_is_retried_alone_then_dead_lettered_with_its_last_error(
    memory_settings: MemorySettings, embedder: LocalEmbedder, knowledge: KnowledgeBaseStore
) -> None:
    settings = memory_settings.model_copy(update={"claim_idle_ms": 0, "max_deliveries": 2})
    redis = aioredis.Redis.from_url(settings.mesh.redis_url, decode_responses=True)
    store = TimesOutOnFlaky(knowledge.collections)
    parser = ParsePool(sandbox_limits(settings))
    await parser.start()
    worker = IngestWorker(redis, store, LexicalIndexes(store, redis), embedder, settings, parser, consumer="one")
    documents = [DocumentUpload(doc_id, f"Policy {doc_id}.") for doc_id in ("a", "flaky", "b")]
    job_id = await enqueue_documents(redis, settings, worker.jobs, "acme", "default", documents)
    await worker.ensure_group()
    await worker.process(await worker.read())  # the batch fails; a and b are stored one by one
    assert (await worker.jobs.status(job_id, "acme")).done == 2
    await worker.reclaim()  # the second delivery of flaky fails too
    await worker.reclaim()  # delivered twice: dead-lettered with the reason it kept failing
    await parser.close()

    job = await worker.jobs.status(job_id, "acme")
    assert (job.done, job.failed) == (2, 1)
    assert job.errors[0].error == "failed 2 deliveries; last error: vector store did not answer within 10s"
    dead: Any = await redis.xrange(settings.ingest_dead_letter_key)
    assert [letter["id"] for _, letter in dead] == ["flaky"]
    assert (await queued(redis, "acme")).documents == 0
    await redis.aclose()
