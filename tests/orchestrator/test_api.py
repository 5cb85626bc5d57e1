"""The orchestrator in-process (real Redis, real SQLite checkpoints): auth, keys, registry errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from meshline.orchestrator.app import create_app
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.wait import wait_until

ADMIN = "test-admin-key"


@pytest.fixture
async def client(
    mesh_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS", "127.0.0.0/8")  # as `meshline up` does
    app = create_app(OrchestratorSettings())
    async with asgi_client(app, "http://orchestrator") as http:
        yield http


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def key_store_bytes(home: Path) -> bytes:
    """The key store's SQLite file (see key_db.py) with its write-ahead log."""
    return b"".join(p.read_bytes() for p in home.glob("keys.sqlite*"))


async def test_admin_mints_keys_that_are_stored_hashed(client: httpx.AsyncClient, mesh_env: dict[str, str]) -> None:
    created = await client.post("/v1/keys", json={"tenant": "acme", "scopes": ["chat"]}, headers=admin())
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("ml_")
    stored = key_store_bytes(Path(mesh_env["MESHLINE_HOME"]))
    assert key.encode() not in stored and b"acme" in stored
    # The new key works for chat-scoped endpoints but not for admin ones.
    tenant = {"authorization": f"Bearer {key}"}
    assert (await client.get("/v1/agents", headers=tenant)).status_code == 200
    assert (await client.get("/v1/services", headers=tenant)).status_code == 403, "the registry is platform-admin only"
    denied = await client.post("/v1/keys", json={"tenant": "acme"}, headers=tenant)
    assert denied.status_code == 403 and denied.json()["code"] == "missing_scope"


async def test_key_validation_errors_are_problems(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/keys", json={"tenant": "acme", "scopes": ["root"]}, headers=admin())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "unknown scope" in response.json()["detail"]


async def test_registering_a_bad_url_changes_nothing(client: httpx.AsyncClient) -> None:
    bad = await client.post("/v1/services", json={"url": "not a url"}, headers=admin())
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_url"
    unreachable = await client.post("/v1/services", json={"url": "http://127.0.0.1:9"}, headers=admin())
    assert unreachable.status_code == 422 and unreachable.json()["code"] == "manifest_unreachable"
    assert unreachable.headers["content-type"] == "application/problem+json"
    not_mcp = await client.post("/v1/services", json={"url": "http://127.0.0.1:9", "protocol": "mcp"}, headers=admin())
    assert not_mcp.status_code == 422 and not_mcp.json()["code"] == "service_unreachable"
    unknown = await client.post("/v1/services", json={"url": "http://x.test", "protocol": "grpc"}, headers=admin())
    assert unknown.status_code == 422
    listed = await client.get("/v1/services", headers=admin())
    assert listed.json() == {"services": []}


async def test_chat_without_agents_is_an_honest_503(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat", json={"message": "hello"}, headers=admin())
    assert response.status_code == 503
    assert response.json()["code"] == "no_agents" and response.json()["retryable"] is True


async def test_unknown_or_invalid_thread_ids(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/threads/abc", headers=admin())
    assert response.status_code == 404 and response.json()["code"] == "unknown_thread"
    invalid = await client.get("/v1/threads/bad%20id", headers=admin())
    assert invalid.status_code == 422


async def test_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    await wait_until(lambda: _ready(client), timeout=60, what="readyz")  # the router's model loads in the background
    ready = await client.get("/readyz")
    assert ready.json()["checks"] == {"api_keys": "ok", "checkpoints": "ok", "redis": "ok", "router": "ok"}
    await client.get("/v1/services")
    metrics = (await client.get("/metrics")).text
    assert (
        'meshline_http_requests_total{method="GET",route="/v1/services",service="orchestrator",status="401"}' in metrics
    )
    assert "meshline_http_request_duration_seconds_bucket" in metrics


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200
