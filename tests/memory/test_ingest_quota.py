"""Ingestion quotas through the HTTP API (real Redis): a tenant past its queue gets a 429 naming the
limit while another tenant is accepted; processing releases the quota; a full stream refuses
work with 503 instead of trimming unprocessed entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis

from meshline.embeddings import LocalEmbedder
from meshline.memory.knowledge_bases.quota import queued
from meshline.memory.settings import MemorySettings
from meshline.testing.wait import wait_until
from tests.memory.knowledge_harness import wait_for_job
from tests.memory.memory_harness import running_memory

Headers = Callable[[str], dict[str, Any]]


def writer(issue_token: Callable[..., str]) -> Headers:
    def headers(tenant: str) -> dict[str, Any]:
        token = issue_token("memory", tenant=tenant, user="admin", scopes=("knowledge:write", "knowledge:read"))
        return {"Authorization": f"Bearer {token}"}

    return headers


def docs(prefix: str, count: int, text: str = "Orders ship within two days.") -> dict[str, Any]:
    return {"documents": [{"id": f"{prefix}-{i}", "text": f"{text} ({i})"} for i in range(count)]}


async def post(http: httpx.AsyncClient, headers: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await http.post("/v1/collections/default/documents", json=body, headers=headers)


async def drained(redis_url: str, timeout_s: float = 60.0) -> None:
    """Wait until nothing is queued for ingestion (every document counted done or failed)."""
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:

        async def empty() -> bool:  # the state is in Redis, not this process: poll it
            return not (await queued(redis)).documents

        await wait_until(empty, timeout=timeout_s, interval=0.05, what="the ingestion queue drains")
    finally:
        await redis.aclose()


def assert_refused(response: httpx.Response, status: int, code: str, limit: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "30"
    problem = response.json()
    assert (problem["code"], problem["retryable"]) == (code, True)
    assert limit in problem["detail"]


async def test_a_tenant_over_its_queue_gets_429_and_another_tenant_is_accepted(
    memory_settings: MemorySettings, embedder: LocalEmbedder, issue_token: Callable[..., str]
) -> None:
    as_tenant = writer(issue_token)
    caps = {"ingest_tenant_max_queued_documents": 5, "ingest_tenant_max_queued_bytes": 4000}
    quota = memory_settings.model_copy(update={"worker_enabled": False, **caps})
    async with running_memory(quota, embedder) as service:
        assert (await post(service.http, as_tenant("noisy"), docs("a", 3))).status_code == 202
        assert (await post(service.http, as_tenant("noisy"), docs("b", 2))).status_code == 202
        refused = await post(service.http, as_tenant("noisy"), docs("c", 1))
        assert_refused(refused, 429, "ingest_tenant_documents_quota", "ingest_tenant_max_queued_documents")
        assert "5 documents queued" in refused.json()["detail"]

        quiet = await post(service.http, as_tenant("quiet"), docs("q", 2, "x" * 1500))
        assert quiet.status_code == 202, quiet.text
        too_big = await post(service.http, as_tenant("quiet"), docs("r", 1, "x" * 1500))
        assert_refused(too_big, 429, "ingest_tenant_bytes_quota", "ingest_tenant_max_queued_bytes")

        # A request no quota could ever hold is not worth retrying: 413.
        never = await post(service.http, as_tenant("other"), docs("n", 6))
        assert (never.status_code, never.json()["code"]) == (413, "ingest_request_too_large")
        assert "retry-after" not in never.headers
        registry = service.app.state.metrics_registry
        for code in ("ingest_tenant_documents_quota", "ingest_tenant_bytes_quota", "ingest_request_too_large"):
            assert registry.get_sample_value("meshline_ingest_refused_total", {"code": code}) == 1

    redis = aioredis.Redis.from_url(memory_settings.mesh.redis_url, decode_responses=True)
    try:
        assert (await queued(redis, "noisy")).documents == 5
        assert (await queued(redis)).documents == 7  # refused requests queued nothing
        assert await redis.xlen(quota.ingest_stream_key) == 7
    finally:
        await redis.aclose()

    # Once the worker has processed the queue, the tenant's quota is free again.
    working = quota.model_copy(update={"worker_enabled": True})
    async with running_memory(working, embedder) as service:
        await drained(memory_settings.mesh.redis_url)
        accepted = await post(service.http, as_tenant("noisy"), docs("d", 5))
        assert accepted.status_code == 202, accepted.text
        job = await wait_for_job(service.http, accepted.json()["job_id"], as_tenant("noisy"))
        assert (job["done"], job["failed"]) == (5, 0)
    redis = aioredis.Redis.from_url(memory_settings.mesh.redis_url, decode_responses=True)
    try:
        assert await queued(redis, "noisy") == await queued(redis, "quiet")
        assert (await queued(redis)).documents == 0
    finally:
        await redis.aclose()


async def test_a_full_stream_refuses_new_work_with_503_and_keeps_every_queued_entry(
    memory_settings: MemorySettings, embedder: LocalEmbedder, issue_token: Callable[..., str]
) -> None:
    as_tenant = writer(issue_token)
    full = memory_settings.model_copy(update={"worker_enabled": False, "ingest_stream_max_documents": 4})
    async with running_memory(full, embedder) as service:
        assert (await post(service.http, as_tenant("one"), docs("a", 2))).status_code == 202
        assert (await post(service.http, as_tenant("two"), docs("b", 2))).status_code == 202
        refused = await post(service.http, as_tenant("three"), docs("c", 1))
        assert_refused(refused, 503, "ingest_queue_full", "ingest_stream_max_documents")
    redis = aioredis.Redis.from_url(memory_settings.mesh.redis_url, decode_responses=True)
    try:
        entries: Any = await redis.xrange(full.ingest_stream_key)
        assert sorted(fields["id"] for _, fields in entries) == ["a-0", "a-1", "b-0", "b-1"]
    finally:
        await redis.aclose()
