"""``/v1/keys`` on the orchestrator in-process: who may mint, list and revoke what, expiry, storage.

Real Redis, real SQLite files; every test also runs on Postgres when DATABASE_URL is set.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from meshline.orchestrator.app import create_app
from meshline.orchestrator.key_db import keys_file
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.wait import wait_until
from tests.orchestrator.test_api import key_store_bytes

ADMIN = "test-admin-key"
DATABASE_URL = os.environ.get("DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres", marks=pytest.mark.skipif(not DATABASE_URL, reason="set DATABASE_URL to a PostgreSQL database")
    ),
]


@pytest.fixture(params=BACKENDS)
async def client(
    request: pytest.FixtureRequest, mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    if request.param == "postgres":
        monkeypatch.setenv("MESHLINE_ORCHESTRATOR_DATABASE_URL", str(DATABASE_URL))
    app = create_app(OrchestratorSettings())
    async with asgi_client(app, "http://orchestrator") as http:
        yield http


@pytest.fixture
def tenant() -> str:
    """A tenant of this test alone (the Postgres table is shared by every run)."""
    return f"t-{uuid.uuid4().hex[:10]}"


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def mint(http: httpx.AsyncClient, by: str = ADMIN, **body: Any) -> dict[str, Any]:
    response = await http.post("/v1/keys", json=body, headers=bearer(by))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def can_chat(http: httpx.AsyncClient, key: str) -> int:
    """Status of a chat-scoped read: 404 (an unknown thread) once the key is accepted."""
    return (await http.get("/v1/threads/no-such-thread", headers=bearer(key))).status_code


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_platform_admin_mints_lists_and_revokes(client: httpx.AsyncClient, tenant: str) -> None:
    created = await mint(client, tenant=tenant, user="alice", scopes=["chat"], name="backend")
    assert created["key"].startswith("ml_") and created["state"] == "active"
    assert (created["tenant"], created["user"], created["scopes"], created["created_by"]) == (
        tenant,
        "alice",
        ["chat"],
        "admin",
    )
    assert await can_chat(client, created["key"]) == 404

    listed = (await client.get(f"/v1/keys?tenant={tenant}", headers=bearer(ADMIN))).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and "digest" not in listed[0]
    assert created["key"] not in str(listed)

    assert (await client.delete(f"/v1/keys/{created['id']}", headers=bearer(ADMIN))).status_code == 204
    refused = await client.get("/v1/threads/no-such-thread", headers=bearer(created["key"]))
    assert_problem(refused, 401, "invalid_api_key")
    assert (await client.delete(f"/v1/keys/{created['id']}", headers=bearer(ADMIN))).status_code == 204  # again: fine
    assert (await client.get(f"/v1/keys?tenant={tenant}", headers=bearer(ADMIN))).json()["keys"] == []
    every = (await client.get(f"/v1/keys?tenant={tenant}&include_inactive=true", headers=bearer(ADMIN))).json()
    assert [(k["id"], k["state"]) for k in every["keys"]] == [(created["id"], "revoked")]
    assert every["keys"][0]["revoked_at"] is not None


async def test_tenant_admin_manages_its_own_tenant_only(client: httpx.AsyncClient, tenant: str) -> None:
    other = f"{tenant}-other"
    admin_a = (await mint(client, tenant=tenant, scopes=["tenant_admin"]))["key"]
    foreign = await mint(client, tenant=other, scopes=["chat"])

    own = await mint(client, by=admin_a, scopes=["chat", "act_as_user"], name="backend")  # no tenant: its own
    assert own["tenant"] == tenant and own["scopes"] == ["act_as_user", "chat"]
    assert (await mint(client, by=admin_a, tenant=tenant, scopes=["tenant_admin"]))["tenant"] == tenant

    cross = await client.post("/v1/keys", json={"tenant": other, "scopes": ["chat"]}, headers=bearer(admin_a))
    assert_problem(cross, 403, "foreign_tenant")
    escalate = await client.post("/v1/keys", json={"scopes": ["chat", "admin"]}, headers=bearer(admin_a))
    assert_problem(escalate, 403, "scope_not_grantable")

    listed = (await client.get("/v1/keys", headers=bearer(admin_a))).json()["keys"]
    assert {k["tenant"] for k in listed} == {tenant} and own["id"] in {k["id"] for k in listed}
    assert_problem(await client.get(f"/v1/keys?tenant={other}", headers=bearer(admin_a)), 403, "foreign_tenant")

    # Another tenant's key id is not found, exactly like an id that does not exist; the key keeps working.
    theirs = await client.delete(f"/v1/keys/{foreign['id']}", headers=bearer(admin_a))
    nobody = await client.delete("/v1/keys/0123456789abcdef", headers=bearer(admin_a))
    assert_problem(theirs, 404, "unknown_api_key")
    assert theirs.json()["detail"] == nobody.json()["detail"]
    assert await can_chat(client, foreign["key"]) == 404

    assert (await client.delete(f"/v1/keys/{own['id']}", headers=bearer(admin_a))).status_code == 204
    assert await can_chat(client, own["key"]) == 401


async def test_keys_without_a_key_admin_scope_manage_nothing(client: httpx.AsyncClient, tenant: str) -> None:
    chat = await mint(client, tenant=tenant, scopes=["chat", "ingest", "act_as_user"])
    for response in (
        await client.post("/v1/keys", json={"scopes": ["chat"]}, headers=bearer(chat["key"])),
        await client.get("/v1/keys", headers=bearer(chat["key"])),
        await client.delete(f"/v1/keys/{chat['id']}", headers=bearer(chat["key"])),
    ):
        assert_problem(response, 403, "missing_scope")
    assert_problem(await client.get("/v1/keys"), 401, "missing_api_key")
    assert_problem(await client.get("/v1/keys", headers=bearer("ml_" + "x" * 43)), 401, "invalid_api_key")


async def test_admin_is_the_platform_tenants_scope_only(client: httpx.AsyncClient, tenant: str) -> None:
    on_tenant = await client.post("/v1/keys", json={"tenant": tenant, "scopes": ["admin"]}, headers=bearer(ADMIN))
    assert_problem(on_tenant, 403, "admin_scope_platform_only")

    platform = await mint(client, tenant="default", scopes=["admin"], name=f"ops-{tenant}")
    minted_by_platform = await mint(client, by=platform["key"], tenant=tenant, scopes=["tenant_admin"])
    assert minted_by_platform["created_by"] == platform["id"]
    seen = (await client.get(f"/v1/keys?tenant={tenant}", headers=bearer(platform["key"]))).json()["keys"]
    assert [k["id"] for k in seen] == [minted_by_platform["id"]]

    # A tenant admin of the platform tenant itself neither sees nor revokes the platform admin's keys.
    platform_tenant_admin = (await mint(client, tenant="default", scopes=["tenant_admin"]))["key"]
    listed = (await client.get("/v1/keys", headers=bearer(platform_tenant_admin))).json()["keys"]
    assert platform["id"] not in {k["id"] for k in listed}
    hidden = await client.delete(f"/v1/keys/{platform['id']}", headers=bearer(platform_tenant_admin))
    assert_problem(hidden, 404, "unknown_api_key")
    grant = await client.post("/v1/keys", json={"scopes": ["admin"]}, headers=bearer(platform_tenant_admin))
    assert_problem(grant, 403, "scope_not_grantable")
    assert (await client.delete(f"/v1/keys/{platform['id']}", headers=bearer(ADMIN))).status_code == 204


async def test_expiry(client: httpx.AsyncClient, tenant: str) -> None:
    brief = await mint(client, tenant=tenant, scopes=["chat"], ttl_s=1)
    assert brief["expires_at"] is not None
    assert await can_chat(client, brief["key"]) == 404
    await wait_until(lambda: _refused(client, brief["key"]), timeout=1.2, what="the key expired")
    assert_problem(await client.get("/v1/threads/x", headers=bearer(brief["key"])), 401, "invalid_api_key")
    expired = (await client.get(f"/v1/keys?tenant={tenant}&include_inactive=true", headers=bearer(ADMIN))).json()
    assert [k["state"] for k in expired["keys"]] == ["expired"]

    later = datetime.now(UTC) + timedelta(days=30)
    dated = await mint(client, tenant=tenant, scopes=["chat"], expires_at=later.isoformat())
    assert abs(datetime.fromisoformat(dated["expires_at"]) - later) < timedelta(milliseconds=1)

    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    for body, code in (
        ({"tenant": tenant, "expires_at": past}, "expires_in_past"),
        ({"tenant": tenant, "ttl_s": 60, "expires_at": later.isoformat()}, "validation_error"),
        ({"tenant": tenant, "ttl_s": 0}, "validation_error"),
        ({"tenant": tenant, "ttl": 60}, "validation_error"),  # a misspelt field mints nothing
        ({"tenant": tenant, "expires_at": "2030-01-01T00:00:00"}, "validation_error"),  # no time zone
        ({"tenant": tenant, "scopes": ["root"]}, "validation_error"),
    ):
        assert_problem(await client.post("/v1/keys", json=body, headers=bearer(ADMIN)), 422, code)
    left = (await client.get(f"/v1/keys?tenant={tenant}&include_inactive=true", headers=bearer(ADMIN))).json()
    assert len(left["keys"]) == 2


async def test_keys_outlive_a_flushed_redis(client: httpx.AsyncClient, tenant: str, redis_url: str) -> None:
    created = await mint(client, tenant=tenant, scopes=["chat"])
    plain = redis.Redis.from_url(redis_url)
    try:
        plain.flushall()
        assert not [k for k in plain.keys("*") if b"apikey" in k]  # nothing of the keys ever lived there
    finally:
        plain.close()
    assert await can_chat(client, created["key"]) == 404


async def test_refusals_log_no_traceback(
    client: httpx.AsyncClient, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = await mint(client, tenant=tenant, scopes=["chat"])
    with caplog.at_level(logging.DEBUG):
        await client.get("/v1/keys", headers=bearer(chat["key"]))
        await client.get("/v1/keys", headers=bearer("ml_unknown"))
        await client.delete("/v1/keys/nope", headers=bearer(ADMIN))
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


async def test_sqlite_store_holds_only_hashes_in_a_private_file(
    mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    settings = OrchestratorSettings()
    app = create_app(settings)
    async with asgi_client(app, "http://o") as http:
        created = await mint(http, tenant="acme", scopes=["chat"])
    path = keys_file(settings)
    assert path.parent == settings.checkpoint_file().parent and path != settings.checkpoint_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, digest, tenant FROM meshline_api_keys").fetchall()
    assert rows == [(created["id"], rows[0][1], "acme")] and len(rows[0][1]) == 64
    assert created["key"].encode() not in key_store_bytes(path.parent)


async def _refused(client: httpx.AsyncClient, key: str) -> bool:
    return (await client.get("/v1/threads/x", headers=bearer(key))).status_code == 401
