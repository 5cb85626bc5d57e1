"""The memory HTTP API end to end in-process: real Redis stream, real Chroma, real MiniLM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshline.memory.settings import MemorySettings
from tests.memory.memory_harness import MemoryService, wait_until_drained

Auth = Callable[..., dict[str, Any]]


async def test_write_is_queued_then_found_by_search(
    memory: MemoryService, auth: Auth, memory_settings: MemorySettings
) -> None:
    headers = auth()
    texts = {
        "pet": "I have a golden retriever called Biscuit",
        "diet": "I am vegetarian and never eat meat",
        "city": "I live in Lisbon, near the river",
    }
    for memory_id, text in texts.items():
        response = await memory.http.post(
            "/v1/memories", json={"id": memory_id, "text": text, "metadata": {"source": "chat"}}, headers=headers
        )
        assert response.status_code == 202
        assert response.json() == {"id": memory_id, "status": "queued"}

    await wait_until_drained(memory_settings)
    response = await memory.http.post(
        "/v1/memories/search", json={"query": "what dog do I own?", "k": 3}, headers=headers
    )
    assert response.status_code == 200
    hits = response.json()["hits"]
    assert [h["id"] for h in hits][0] == "pet"
    assert hits[0]["text"] == texts["pet"]
    assert hits[0]["metadata"]["source"] == "chat"
    assert hits[0]["metadata"]["user"] == "alice"
    assert isinstance(hits[0]["metadata"]["created_at"], float)
    assert 0.3 < hits[0]["score"] <= 1.0
    assert hits[0]["score"] > hits[1]["score"] >= hits[2]["score"]


async def test_wait_true_stores_before_answering(memory: MemoryService, auth: Auth) -> None:
    headers = auth()
    response = await memory.http.post("/v1/memories?wait=true", json={"text": "My size is EU 43"}, headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "stored"
    assert len(body["id"]) == 32  # a generated uuid
    exported = (await memory.http.get("/v1/memories", headers=headers)).json()["memories"]
    assert [(m["id"], m["text"]) for m in exported] == [(body["id"], "My size is EU 43")]


async def test_same_id_replaces_instead_of_duplicating(
    memory: MemoryService, auth: Auth, memory_settings: MemorySettings
) -> None:
    headers = auth()
    for text in ("I prefer email", "I prefer phone calls"):
        response = await memory.http.post("/v1/memories", json={"id": "contact", "text": text}, headers=headers)
        assert response.status_code == 202
    await wait_until_drained(memory_settings)
    exported = (await memory.http.get("/v1/memories", headers=headers)).json()["memories"]
    assert [(m["id"], m["text"]) for m in exported] == [("contact", "I prefer phone calls")]


async def _seed(memory: MemoryService, auth: Auth) -> None:
    owners = [("acme", "alice", "Alice likes green tea"), ("acme", "bob", "Bob likes black coffee")]
    owners.append(("globex", "alice", "Globex Alice likes hot chocolate"))
    for tenant, user, text in owners:
        # The same id for everyone: ids are per user, so nobody overwrites anybody.
        response = await memory.http.post(
            "/v1/memories?wait=true", json={"id": "drink", "text": text}, headers=auth(tenant, user)
        )
        assert response.status_code == 201


async def test_tenants_and_users_are_isolated(memory: MemoryService, auth: Auth) -> None:
    await _seed(memory, auth)
    expected = {
        ("acme", "alice"): "Alice likes green tea",
        ("acme", "bob"): "Bob likes black coffee",
        ("globex", "alice"): "Globex Alice likes hot chocolate",
    }
    for (tenant, user), text in expected.items():
        headers = auth(tenant, user)
        search = await memory.http.post(
            "/v1/memories/search", json={"query": "favourite drink", "k": 10}, headers=headers
        )
        assert [h["text"] for h in search.json()["hits"]] == [text]
        exported = (await memory.http.get("/v1/memories", headers=headers)).json()["memories"]
        assert [m["text"] for m in exported] == [text]


async def test_identity_comes_only_from_the_token(memory: MemoryService, auth: Auth) -> None:
    body = {"text": "Alice's secret", "user": "bob", "tenant": "globex", "metadata": {"user": "bob"}}
    response = await memory.http.post("/v1/memories?wait=true", json=body, headers=auth("acme", "alice"))
    assert response.status_code == 201
    bob = (await memory.http.get("/v1/memories", headers=auth("acme", "bob"))).json()["memories"]
    globex_bob = (await memory.http.get("/v1/memories", headers=auth("globex", "bob"))).json()["memories"]
    alice = (await memory.http.get("/v1/memories", headers=auth("acme", "alice"))).json()["memories"]
    assert bob == [] and globex_bob == []
    assert [(m["text"], m["metadata"]["user"]) for m in alice] == [("Alice's secret", "alice")]


async def test_delete_erases_only_the_callers_memories(memory: MemoryService, auth: Auth) -> None:
    await _seed(memory, auth)
    response = await memory.http.delete("/v1/memories", headers=auth("acme", "alice"))
    assert response.status_code == 200
    assert response.json() == {"deleted": 1}
    assert (await memory.http.get("/v1/memories", headers=auth("acme", "alice"))).json()["memories"] == []
    for tenant, user in (("acme", "bob"), ("globex", "alice")):
        assert len((await memory.http.get("/v1/memories", headers=auth(tenant, user))).json()["memories"]) == 1
    again = await memory.http.delete("/v1/memories", headers=auth("acme", "alice"))
    assert again.json() == {"deleted": 0}


async def test_invalid_input_is_a_problem(memory: MemoryService, auth: Auth) -> None:
    headers = auth()
    cases = [
        ("/v1/memories", {"text": ""}, 422, "validation_error"),
        ("/v1/memories", {"text": "x", "metadata": {"nested": {"a": 1}}}, 422, "validation_error"),
        ("/v1/memories/search", {"query": "x", "k": 0}, 422, "validation_error"),
        ("/v1/memories/search", {"k": 3}, 422, "validation_error"),
        ("/v1/embeddings", {"input": []}, 422, "validation_error"),
    ]
    for path, body, status, code in cases:
        response = await memory.http.post(path, json=body, headers=headers)
        assert response.status_code == status, (path, body)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code
    malformed = await memory.http.post(
        "/v1/memories", content=b"{not json", headers={**headers, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "malformed_json"


async def test_every_endpoint_needs_a_memory_token(memory: MemoryService, issue_token: Callable[..., str]) -> None:
    requests = [
        ("POST", "/v1/memories", {"text": "x"}),
        ("POST", "/v1/memories/search", {"query": "x"}),
        ("GET", "/v1/memories", None),
        ("DELETE", "/v1/memories", None),
        ("POST", "/v1/embeddings", {"input": ["x"]}),
    ]
    other_service = {"Authorization": f"Bearer {issue_token('llm')}"}
    for method, path, body in requests:
        missing = await memory.http.request(method, path, json=body)
        assert missing.status_code == 401, path
        assert missing.headers["content-type"] == "application/problem+json"
        forged = await memory.http.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
        assert forged.status_code == 401, path
        wrong_audience = await memory.http.request(method, path, json=body, headers=other_service)
        assert wrong_audience.status_code == 403, path


async def test_each_route_needs_its_own_scope(memory: MemoryService, auth: Auth) -> None:
    """Reading memories, writing them and searching knowledge bases are separate grants: the
    knowledge-read token every agent gets cannot export or erase the user's memories."""
    reads = [("POST", "/v1/memories/search", {"query": "x"}), ("GET", "/v1/memories", None)]
    writes = [("POST", "/v1/memories?wait=true", {"text": "x"}), ("DELETE", "/v1/memories", None)]
    knowledge = [("POST", "/v1/search", {"query": "x"}), ("GET", "/v1/collections/default", None)]
    kb_writes = [("POST", "/v1/collections/default/documents", {"documents": [{"id": "d", "text": "x"}]})]
    grants = {
        "memories:read": reads,
        "memories:write": writes,
        "knowledge:read": knowledge,
        "knowledge:write": kb_writes,
    }
    every = reads + writes + knowledge + kb_writes
    for scope, allowed in grants.items():
        headers = auth(scopes=(scope,))
        for method, path, body in every:
            response = await memory.http.request(method, path, json=body, headers=headers)
            if (method, path, body) in allowed:
                assert response.status_code < 400, (scope, path, response.text)
            else:
                assert response.status_code == 403, (scope, path)
                assert response.json()["code"] == "missing_scope"


async def test_embeddings_endpoint_serves_the_same_model(memory: MemoryService, auth: Auth) -> None:
    texts = ["where is my parcel?", "track my order delivery", "reset my password"]
    response = await memory.http.post("/v1/embeddings", json={"input": texts}, headers=auth())
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "local"
    vectors = [item["embedding"] for item in sorted(body["data"], key=lambda d: d["index"])]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    single = await memory.http.post("/v1/embeddings", json={"input": "where is my parcel?"}, headers=auth())
    assert abs(cosine(single.json()["data"][0]["embedding"], vectors[0]) - 1.0) < 1e-4


async def test_ready_when_redis_chroma_model_and_worker_are(memory: MemoryService) -> None:
    response = await memory.http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok", "chroma": "ok", "embedding_model": "ok", "worker": "ok"}
