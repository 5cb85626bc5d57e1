"""One tenant's documents cannot stall or fail another's ingestion (real Redis, embedded Chroma,
the real parse sandbox processes, the real MiniLM).

- A parser that burns CPU on adversarial markdown (the service's old heading pattern, run in
  the sandbox in place of the fixed one) and a PDF decompression bomb fail alone, with their
  reasons in the job, while another tenant's searches keep being answered.
- A document Chroma rejects (a reserved metadata key) fails alone; every other document of its
  batch, another tenant's included, is stored.
- Dead letters name the document and the reason, never its content.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from meshline.embeddings import LocalEmbedder
from meshline.memory.knowledge_bases.quota import queued
from meshline.memory.settings import MemorySettings
from meshline.testing.wait import wait_until
from tests.memory.knowledge_harness import wait_for_job
from tests.memory.memory_harness import running_memory
from tests.memory.pdf_bombs import flate_bomb

OLD_PARSER = "tests.memory.sandbox_targets:old_markdown_parser"
SPACES = " " * 100_000
ADVERSARIAL_MARKDOWN = f"# a{SPACES}b{SPACES}c\n\nThe rest of a long document."
SECRET = "Confidential: the warehouse door code is 4711."


@pytest.fixture(scope="module")
def model() -> Iterator[LocalEmbedder]:
    embedder = LocalEmbedder()
    yield embedder
    embedder.close()


@pytest.fixture
def settings(mesh_env: dict[str, str], tmp_path: Path) -> MemorySettings:
    return MemorySettings(chroma_path=tmp_path / "chroma", worker_block_ms=50, claim_idle_ms=60_000)


def headers_for(issue_token: Callable[..., str], tenant: str) -> dict[str, Any]:
    token = issue_token("memory", tenant=tenant, user="admin", scopes=("knowledge:write", "knowledge:read"))
    return {"Authorization": f"Bearer {token}"}


async def submit(http: httpx.AsyncClient, headers: dict[str, Any], documents: list[dict[str, Any]]) -> str:
    response = await http.post("/v1/collections/default/documents", json={"documents": documents}, headers=headers)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def errors_by_document(job: dict[str, Any]) -> dict[str, str]:
    return {error["document_id"]: error["error"] for error in job["errors"]}


async def test_a_cpu_burning_parse_and_a_pdf_bomb_fail_alone_while_searches_are_answered(
    settings: MemorySettings, model: LocalEmbedder, issue_token: Callable[..., str]
) -> None:
    limited = settings.model_copy(update={"parse_cpu_s": 2, "parse_wall_s": 60})
    quiet, noisy = headers_for(issue_token, "quiet"), headers_for(issue_token, "noisy")
    async with running_memory(limited, model, parse_target=OLD_PARSER) as service:
        policy = [{"id": "returns", "text": "Returns are free within 30 days of delivery."}]
        await wait_for_job(service.http, await submit(service.http, quiet, policy), quiet)

        bomb = base64.b64encode(flate_bomb(256)).decode()
        job_id = await submit(
            service.http,
            noisy,
            [
                {"id": "spaces.md", "text": ADVERSARIAL_MARKDOWN, "format": "markdown"},
                {"id": "bomb.pdf", "content_base64": bomb, "format": "pdf"},
                {"id": "fine", "text": "Gift cards never expire."},
            ],
        )
        answered, last_job = [0], [{}]

        async def job_done_while_answering() -> bool:
            found = await service.http.post("/v1/search", json={"query": "how long to return"}, headers=quiet)
            assert found.status_code == 200, found.text
            assert [hit["document_id"] for hit in found.json()["hits"]] == ["returns"]
            job = last_job[0] = (await service.http.get(f"/v1/jobs/{job_id}", headers=noisy)).json()
            if job["done"] + job["failed"] == job["total"]:
                return True
            answered[0] += 1
            return False

        await wait_until(job_done_while_answering, timeout=300, interval=0.05, what="the noisy job")
        answered_meanwhile, job = answered[0], last_job[0]
        registry = service.app.state.metrics_registry
        outcomes = {
            outcome: registry.get_sample_value("meshline_parse_documents_total", {"outcome": outcome})
            for outcome in ("ok", "cpu_limit", "rejected")
        }

    assert answered_meanwhile > 0  # the parser burnt 2 s of CPU; searches kept being answered
    assert (job["state"], job["done"], job["failed"]) == ("completed_with_errors", 1, 2)
    errors = errors_by_document(job)
    assert errors["spaces.md"] == "parsing exceeded the CPU-time limit of 2 s"
    assert errors["bomb.pdf"].startswith("the PDF exceeds a decoding limit")
    assert outcomes == {"ok": 2, "cpu_limit": 1, "rejected": 1}  # the policy, "fine"; the markdown; the bomb


async def test_a_document_the_store_rejects_fails_alone_in_a_batch_of_two_tenants(
    settings: MemorySettings, model: LocalEmbedder, issue_token: Callable[..., str]
) -> None:
    alpha, beta = headers_for(issue_token, "alpha"), headers_for(issue_token, "beta")
    alpha_docs = [{"id": f"a-{i}", "text": f"Alpha policy {i}: parcels ship in {i} days."} for i in range(9)]
    alpha_docs.insert(4, {"id": "a-bad", "text": SECRET, "metadata": {"#document": "reserved by Chroma"}})
    beta_docs = [{"id": f"b-{i}", "text": f"Beta policy {i}: refunds take {i} days."} for i in range(9)]
    beta_docs.append({"id": "b-spaces.md", "text": ADVERSARIAL_MARKDOWN, "format": "markdown"})

    # Queue both tenants' documents first, so the worker reads them as one batch of 20.
    queue_only = settings.model_copy(update={"worker_enabled": False})
    async with running_memory(queue_only, model) as service:
        alpha_job = await submit(service.http, alpha, alpha_docs)
        beta_job = await submit(service.http, beta, beta_docs)

    async with running_memory(settings, model) as service:
        alpha_status = await wait_for_job(service.http, alpha_job, alpha)
        beta_status = await wait_for_job(service.http, beta_job, beta)
        alpha_chunks = (await service.http.get("/v1/collections/default", headers=alpha)).json()["chunks"]
        beta_hits = (await service.http.post("/v1/search", json={"query": "a b c", "k": 20}, headers=beta)).json()[
            "hits"
        ]

    assert (alpha_status["done"], alpha_status["failed"]) == (9, 1)
    assert errors_by_document(alpha_status)["a-bad"].startswith("the vector store rejected the document")
    assert (beta_status["state"], beta_status["done"]) == ("completed", 10)
    assert alpha_chunks == 9
    assert "b-spaces.md" in {hit["document_id"] for hit in beta_hits}  # the fixed parser reads it

    redis = aioredis.Redis.from_url(settings.mesh.redis_url, decode_responses=True)
    try:
        dead: Any = await redis.xrange(settings.ingest_dead_letter_key)
        assert (await queued(redis, "alpha")).documents == 0  # the failed document released its quota too
    finally:
        await redis.aclose()
    assert len(dead) == 1
    letter = dead[0][1]
    assert (letter["tenant"], letter["collection"], letter["id"], letter["job"]) == (
        "alpha",
        "default",
        "a-bad",
        alpha_job,
    )
    assert letter["error"].startswith("the vector store rejected the document")
    assert "content" not in letter
    assert not any(SECRET in value for value in letter.values())
