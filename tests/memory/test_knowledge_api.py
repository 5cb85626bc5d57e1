"""Knowledge bases through the HTTP API: ingestion jobs, search modes, filters, isolation."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from meshline.memory.chroma import collection_name
from meshline.memory.settings import MemorySettings
from tests.memory.knowledge_harness import minimal_pdf, wait_for_job
from tests.memory.memory_harness import MemoryService

Auth = Callable[..., dict[str, Any]]

POLICIES = [
    {
        "id": "returns",
        "title": "Returns",
        "text": "You may return any item within 30 days of delivery for a refund.",
        "metadata": {"topic": "returns"},
    },
    {
        "id": "shipping",
        "title": "Shipping",
        "text": "Standard shipping takes 3 to 5 business days. Express is 1 day.",
        "metadata": {"topic": "shipping"},
    },
    {
        "id": "privacy",
        "title": "Privacy",
        "text": "We never sell personal data. Ask support to erase your account.",
        "metadata": {"topic": "privacy"},
    },
]


def ingest_auth(auth: Auth, issue_token: Callable[..., str], tenant: str = "acme") -> dict[str, Any]:
    token = issue_token("memory", tenant=tenant, user="admin", scopes=("knowledge:write", "knowledge:read"))
    return {"Authorization": f"Bearer {token}"}


async def ingest(
    memory: MemoryService, headers: dict[str, Any], documents: list[dict[str, Any]], collection: str = "default"
) -> Any:
    response = await memory.http.post(
        f"/v1/collections/{collection}/documents", json={"documents": documents}, headers=headers
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["total"] == len(documents)
    return await wait_for_job(memory.http, accepted["job_id"], headers)


async def search(memory: MemoryService, headers: dict[str, Any], query: str, **extra: Any) -> list[dict[str, Any]]:
    response = await memory.http.post("/v1/search", json={"query": query, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


async def test_ingested_documents_are_found_by_every_search_mode(
    memory: MemoryService, auth: Auth, issue_token: Callable[..., str]
) -> None:
    writer = ingest_auth(auth, issue_token)
    job = await ingest(memory, writer, POLICIES)
    assert (job["state"], job["done"], job["failed"], job["errors"]) == ("completed", 3, 0, [])

    for mode in ("dense", "lexical", "hybrid"):
        hits = await search(memory, auth(), "how many days do I have to return an item for a refund", mode=mode)
        top = hits[0]
        assert (top["document_id"], top["title"], top["id"]) == ("returns", "Returns", "returns#0"), mode
        assert "30 days" in top["text"] and top["metadata"]["topic"] == "returns"
        assert top["score"] > 0
    hybrid = await search(memory, auth(), "return an item for a refund", mode="hybrid")
    assert hybrid[0]["dense_score"] > 0.3

    filtered = await search(memory, auth(), "refund", where={"topic": "shipping"}, mode="hybrid")
    assert {h["document_id"] for h in filtered} == {"shipping"}
    info = (await memory.http.get("/v1/collections/default", headers=auth())).json()
    assert info == {"name": "default", "chunks": 3}


async def test_a_bad_document_fails_alone_and_is_dead_lettered(
    memory: MemoryService, memory_settings: MemorySettings, auth: Auth, issue_token: Callable[..., str]
) -> None:
    writer = ingest_auth(auth, issue_token)
    bad = [
        {"id": "empty", "text": "   "},
        {"id": "nested", "text": "fine text", "metadata": {"a": {"b": 1}}},
        {"id": "broken.pdf", "format": "pdf", "content_base64": base64.b64encode(b"not a pdf").decode()},
    ]
    job = await ingest(memory, writer, [POLICIES[0], *bad, POLICIES[1]])
    assert (job["state"], job["total"], job["done"], job["failed"]) == ("completed_with_errors", 5, 2, 3)
    assert {e["document_id"] for e in job["errors"]} == {"empty", "nested", "broken.pdf"}
    assert any("no text" in e["error"] for e in job["errors"])

    redis = aioredis.Redis.from_url(memory_settings.mesh.redis_url, decode_responses=True)
    dead: Any = await redis.xrange(memory_settings.ingest_dead_letter_key)
    await redis.aclose()
    assert sorted(d[1]["id"] for d in dead) == ["broken.pdf", "empty", "nested"]
    assert {h["document_id"] for h in await search(memory, auth(), "shipping days refund", k=10)} == {
        "returns",
        "shipping",
    }


async def test_reingesting_a_changed_document_replaces_its_chunks(
    memory: MemoryService, memory_settings: MemorySettings, auth: Auth, issue_token: Callable[..., str]
) -> None:
    settings_chunk = memory_settings.chunk_chars
    writer = ingest_auth(auth, issue_token)
    long_text = " ".join(f"Paragraph {i} about warranty claims and repairs." for i in range(120))
    await ingest(memory, writer, [{"id": "warranty", "title": "Warranty", "text": long_text}])
    first = await search(memory, auth(), "warranty repairs", mode="lexical", k=200)
    assert len(first) == len({h["id"] for h in first}) > 3  # several chunks (text > chunk_chars)
    assert len(long_text) > 3 * settings_chunk

    await ingest(memory, writer, [{"id": "warranty", "title": "Warranty", "text": "Warranty lasts two years."}])
    again = await search(memory, auth(), "warranty repairs", mode="lexical", k=200)
    assert [(h["id"], h["text"]) for h in again] == [
        ("warranty#0", "Warranty lasts two years.")
    ]  # starts with its title: no prefix
    dense = await search(memory, auth(), "warranty", mode="dense", k=50)
    assert [h["id"] for h in dense] == ["warranty#0"]


async def test_files_text_markdown_html_and_pdf_are_ingested(
    memory: MemoryService, auth: Auth, issue_token: Callable[..., str]
) -> None:
    writer = ingest_auth(auth, issue_token)
    files = [
        ("files", ("fees.md", b"# Cancellation fees\n\nCancelling a shipped order costs 5 EUR.", "text/markdown")),
        (
            "files",
            (
                "hours.html",
                b"<html><title>Opening hours</title><script>x=1</script>"
                b"<p>Support answers 9:00-17:00 weekdays.</p></html>",
                "text/html",
            ),
        ),
        ("files", ("gifts.pdf", minimal_pdf("Gift cards never expire."), "application/pdf")),
        ("files", ("note.txt", b"Plain note about loyalty points.", "text/plain")),
    ]
    response = await memory.http.post(
        "/v1/collections/store/documents", files=files, data={"metadata": '{"source": "upload"}'}, headers=writer
    )
    assert response.status_code == 202, response.text
    job = await wait_for_job(memory.http, response.json()["job_id"], writer)
    assert (job["done"], job["failed"]) == (4, 0), job

    cases = {
        "cancelling a shipped order": ("fees.md", "Cancellation fees"),
        "support opening hours": ("hours.html", "Opening hours"),
        "do gift cards expire": ("gifts.pdf", "gifts.pdf"),
        "loyalty points": ("note.txt", "note.txt"),
    }
    for query, (doc_id, title) in cases.items():
        top = (await search(memory, auth(), query, collection="store"))[0]
        assert (top["document_id"], top["title"], top["metadata"]["source"]) == (doc_id, title, "upload"), query
    html_hit = (await search(memory, auth(), "support hours", collection="store"))[0]
    assert "x=1" not in html_hit["text"]


async def test_tenants_cannot_reach_each_others_documents_or_jobs(
    memory: MemoryService, auth: Auth, issue_token: Callable[..., str]
) -> None:
    job = await ingest(memory, ingest_auth(auth, issue_token, "acme"), POLICIES)
    other = auth(tenant="globex", user="alice")
    for mode in ("dense", "lexical", "hybrid"):
        assert await search(memory, other, "refund return days", mode=mode) == []
    assert (await memory.http.get(f"/v1/jobs/{job['id']}", headers=other)).status_code == 404
    assert (await memory.http.get("/v1/collections/default", headers=other)).json()["chunks"] == 0
    # The tenant in the body or a filter cannot widen the scope: the token decides.
    hits = await search(memory, other, "refund", where={"doc_id": "returns"})
    assert hits == []


async def test_ingestion_needs_the_ingest_scope_and_valid_input(memory: MemoryService, auth: Auth) -> None:
    chat_only = auth()  # memories and knowledge-base search, no knowledge:write
    response = await memory.http.post(
        "/v1/collections/default/documents", json={"documents": POLICIES}, headers=chat_only
    )
    assert response.status_code == 403 and response.json()["code"] == "missing_scope"
    bad_name = await memory.http.post("/v1/search", json={"query": "x", "collection": "Bad Name!"}, headers=auth())
    assert bad_name.status_code == 422 and bad_name.json()["code"] == "invalid_collection"
    bad_filter = await memory.http.post("/v1/search", json={"query": "x", "where": {"a": {"$bad": 1}}}, headers=auth())
    assert bad_filter.status_code == 422 and bad_filter.json()["code"] == "invalid_filter"
    assert (await memory.http.get("/v1/jobs/nope", headers=auth())).status_code == 404


async def test_deleting_a_document_removes_it_from_every_search_mode(
    memory: MemoryService, auth: Auth, issue_token: Callable[..., str]
) -> None:
    writer = ingest_auth(auth, issue_token)
    await ingest(memory, writer, POLICIES)
    assert (await search(memory, auth(), "return an item for a refund", mode="lexical"))[0]["document_id"] == "returns"

    response = await memory.http.delete("/v1/collections/default/documents/returns", headers=writer)
    assert response.status_code == 204, response.text
    for mode in ("dense", "lexical", "hybrid"):
        hits = await search(memory, auth(), "return an item for a refund", mode=mode, k=10)
        assert "returns" not in {h["document_id"] for h in hits}, mode
        assert bool(hits) == (mode != "lexical"), mode  # the others stay (no query word in them for BM25)
    assert (await memory.http.get("/v1/collections/default", headers=auth())).json()["chunks"] == 2

    again = await memory.http.delete("/v1/collections/default/documents/returns", headers=writer)
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "document_not_found"


async def test_deleting_a_collection_removes_every_chunk_and_only_the_caller_s_tenant_s(
    memory: MemoryService, auth: Auth, issue_token: Callable[..., str]
) -> None:
    acme, globex = ingest_auth(auth, issue_token, "acme"), ingest_auth(auth, issue_token, "globex")
    await ingest(memory, acme, POLICIES, collection="policies")
    await ingest(memory, globex, POLICIES[:1], collection="policies")
    assert await search(memory, auth(), "refund", collection="policies", mode="lexical")  # index built

    # Another tenant's delete reaches its own collection of that name, never acme's.
    assert (await memory.http.delete("/v1/collections/policies", headers=globex)).status_code == 204
    assert (await memory.http.get("/v1/collections/policies", headers=auth())).json()["chunks"] == 3
    assert (await memory.http.delete("/v1/collections/policies/documents/shipping", headers=globex)).status_code == 404

    assert (await memory.http.delete("/v1/collections/policies", headers=acme)).status_code == 204
    assert (await memory.http.get("/v1/collections/policies", headers=auth())).json()["chunks"] == 0
    for mode in ("dense", "lexical", "hybrid"):
        assert await search(memory, auth(), "refund", collection="policies", mode=mode) == [], mode

    missing = await memory.http.delete("/v1/collections/never-made", headers=acme)
    assert missing.status_code == 404 and missing.json()["code"] == "collection_not_found"
    assert (await memory.http.delete("/v1/collections/default", headers=auth())).status_code == 403  # needs ingest

    # The name can be used again at once.
    job = await ingest(memory, acme, POLICIES[1:2], collection="policies")
    assert job["done"] == 1
    assert (await search(memory, auth(), "shipping days", collection="policies"))[0]["document_id"] == "shipping"


async def test_reads_never_create_a_collection(
    memory: MemoryService, auth: Auth, issue_token: Callable[..., str]
) -> None:
    """Searching, counting, exporting or deleting from what nobody wrote leaves no empty collection behind."""
    headers = ingest_auth(auth, issue_token, tenant="reader")
    for mode in ("dense", "lexical", "hybrid"):
        assert await search(memory, headers, "refund", collection="never-written", mode=mode) == []
    info = await memory.http.get("/v1/collections/never-written", headers=headers)
    assert info.status_code == 200 and info.json()["chunks"] == 0
    gone = await memory.http.delete("/v1/collections/never-written/documents/doc-1", headers=headers)
    assert gone.status_code == 404 and gone.json()["code"] == "document_not_found"
    recall = auth(tenant="reader", user="alice")
    found = await memory.http.post("/v1/memories/search", json={"query": "anything", "k": 3}, headers=recall)
    assert found.status_code == 200 and found.json()["hits"] == []
    client = memory.app.state.memory_store.collections.client
    prefix = collection_name("reader", "")
    assert not [c.name for c in client.list_collections() if c.name.startswith(prefix)]
    await ingest(memory, headers, POLICIES[:1], collection="written")  # a write does create one
    assert [c.name for c in client.list_collections() if c.name.startswith(prefix)] == [
        collection_name("reader", "kb_written")
    ]
