"""Limits on the public API through the orchestrator app (real Redis, real SQLite): the 429 problem on
every limited endpoint, per-key overrides and who may set them, two replicas sharing a budget,
turn slots given back on success, failure, the end of a stream and a client gone mid-stream, and
an old ``keys.sqlite`` opening with the new columns."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from typer.testing import CliRunner

from meshline.cli.main import build_app
from meshline.cli.ports import free_port
from meshline.orchestrator.api.chat import ChatPrincipal
from meshline.orchestrator.app import create_app
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.keys import digest
from meshline.orchestrator.rate_limits import ApiLimits
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.sdk import AsyncClient, InvalidRequestError
from meshline.testing.asgi import asgi_client
from meshline.testing.wait import wait_until

ADMIN = "test-admin-key"
CAPPED = '{"capped": {"rate_limit_rps": 2, "max_concurrent_turns": 2}}'  # a tenant the platform holds tighter


@pytest.fixture
def app_env(mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_TENANT_LIMITS", CAPPED)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, "http://orchestrator") as http:
        yield http


@pytest.fixture
async def client(app_env: None) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(OrchestratorSettings())) as http:
        yield http


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def mint(http: httpx.AsyncClient, by: str = ADMIN, **body: Any) -> str:
    response = await http.post("/v1/keys", json={"tenant": "acme", **body}, headers=bearer(by))
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def assert_limited(response: httpx.Response, code: str, limit: str, value: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-meshline-limit"] == limit
    problem = response.json()
    assert problem["code"] == code and problem["status"] == 429 and problem["retryable"] is True
    assert value in problem["detail"], "the detail names the limit"


async def test_429_on_chat_completions_and_knowledge(client: httpx.AsyncClient) -> None:
    chat = await mint(client, rate_limit_rps=1)
    first = await client.post("/v1/chat", json={"message": "hi"}, headers=bearer(chat))
    assert first.status_code == 503 and first.json()["code"] == "no_agents", "admitted (no agent is registered)"
    limited = await client.post("/v1/chat", json={"message": "hi"}, headers=bearer(chat))
    assert_limited(limited, "rate_limited", "key_rate", "1 requests per second")

    openai = await mint(client, rate_limit_rps=1)
    body = {"model": "meshline", "messages": [{"role": "user", "content": "hi"}]}
    assert (await client.post("/v1/chat/completions", json=body, headers=bearer(openai))).status_code == 503
    limited = await client.post("/v1/chat/completions", json=body, headers=bearer(openai))
    assert_limited(limited, "rate_limited", "key_rate", "1 requests per second")

    ingest = await mint(client, scopes=["ingest"], rate_limit_rps=1)
    assert (await client.get("/v1/jobs/not!an!id", headers=bearer(ingest))).status_code == 422
    assert_limited(await client.get("/v1/jobs/not!an!id", headers=bearer(ingest)), "rate_limited", "key_rate", "1 ")


async def test_a_tenants_keys_share_its_limit(client: httpx.AsyncClient) -> None:
    keys = [await mint(client, tenant="capped", scopes=["ingest"]) for _ in range(3)]
    statuses = [(await client.get("/v1/jobs/not!an!id", headers=bearer(k))).status_code for k in keys]
    assert statuses[:2] == [422, 422]
    assert_limited(
        await client.get("/v1/jobs/not!an!id", headers=bearer(keys[2])), "rate_limited", "tenant_rate", "2 requests"
    )


async def test_overrides_are_stored_and_a_tenant_admin_cannot_exceed_its_tenant(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/keys", json={"tenant": "acme", "rate_limit_rps": 2.5, "max_concurrent_turns": 1}, headers=bearer(ADMIN)
    )
    assert created.json()["rate_limit_rps"] == 2.5 and created.json()["max_concurrent_turns"] == 1
    listed = (await client.get("/v1/keys?tenant=acme", headers=bearer(ADMIN))).json()["keys"]
    assert [(k["rate_limit_rps"], k["max_concurrent_turns"]) for k in listed] == [(2.5, 1)]

    tenant_admin = await mint(client, tenant="capped", scopes=["tenant_admin"])
    for too_much in ({"rate_limit_rps": 3}, {"max_concurrent_turns": 3}):
        refused = await client.post("/v1/keys", json=too_much, headers=bearer(tenant_admin))
        assert refused.status_code == 403 and refused.json()["code"] == "limit_not_grantable"
        assert refused.headers["content-type"] == "application/problem+json"
    within_limit = {"rate_limit_rps": 2, "max_concurrent_turns": 1}
    within = await client.post("/v1/keys", json=within_limit, headers=bearer(tenant_admin))
    assert within.status_code == 201 and within.json()["tenant"] == "capped"
    # The platform admin may set any per-key value (the tenant's own limit still applies to the key).
    above = {"tenant": "capped", "rate_limit_rps": 50}
    assert (await client.post("/v1/keys", json=above, headers=bearer(ADMIN))).status_code == 201
    bad = await client.post("/v1/keys", json={"tenant": "acme", "rate_limit_rps": 0}, headers=bearer(ADMIN))
    assert bad.status_code == 422


async def test_two_replicas_share_a_keys_budget(app_env: None) -> None:
    first_app, second_app = create_app(OrchestratorSettings()), create_app(OrchestratorSettings())
    async with running(first_app) as first, running(second_app) as second:
        key = await mint(first, scopes=["ingest"], rate_limit_rps=1)
        assert (await first.get("/v1/jobs/not!an!id", headers=bearer(key))).status_code == 422
        assert_limited(await second.get("/v1/jobs/not!an!id", headers=bearer(key)), "rate_limited", "key_rate", "1 ")


async def test_a_failed_turn_gives_its_slot_back(client: httpx.AsyncClient) -> None:
    key = await mint(client, max_concurrent_turns=1)
    for stream in (False, True, False):
        response = await client.post("/v1/chat", json={"message": "hi", "stream": stream}, headers=bearer(key))
        assert response.status_code == 503, "each turn fails (no agents) and frees its only slot"


async def test_platform_admin_is_held_to_its_own_limit_not_a_tenants(client: httpx.AsyncClient) -> None:
    # 40 quick calls: beyond a tenant's bucket of 10 (at 10/s), within the admin key's own 100.
    chat = {"message": "hi"}
    statuses = [(await client.post("/v1/chat", json=chat, headers=bearer(ADMIN))).status_code for _ in range(40)]
    assert 429 not in statuses


# --- turn slots over a real HTTP server: held while a stream runs, given back however it ends ---


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), timeout=30)
    assert not task.done(), "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 10.0) -> None:
    await wait_until(check, timeout=within_s, what=what)


async def test_a_stream_holds_its_slot_until_it_ends_or_the_client_leaves(app_env: None) -> None:
    app = create_app(OrchestratorSettings())
    finish = asyncio.Event()

    async def slow_stream(principal: ChatPrincipal) -> StreamingResponse:
        """A turn that streams a tick every 50 ms until told to finish (the chat endpoints' dependency)."""

        async def body() -> AsyncIterator[bytes]:
            while not finish.is_set():
                yield b": tick\n\n"
                await asyncio.sleep(0.05)
            yield b"data: done\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    app.add_api_route("/test/stream", slow_stream, methods=["POST"])
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        minted = await http.post("/v1/keys", json={"tenant": "acme", "max_concurrent_turns": 1}, headers=bearer(ADMIN))
        key, key_id = minted.json()["key"], minted.json()["id"]
        limits: ApiLimits = app.state.rate_limits
        principal = Principal("acme", None, frozenset({"chat"}), key_id)
        slot_key = limits.plan(principal, turn=True).check.slots[0].key

        async def free() -> bool:
            return await limits.in_use(slot_key) == 0

        for ending in ("finished", "client gone"):
            async with http.stream("POST", "/test/stream", headers=bearer(key)) as stream:
                assert stream.status_code == 200
                chunks = stream.aiter_bytes()
                await anext(chunks)
                assert await limits.in_use(slot_key) == 1
                second = await http.post("/test/stream", headers=bearer(key))
                assert_limited(second, "too_many_concurrent_turns", "key_turns", "1 chat turns")
                if ending == "finished":
                    finish.set()
                    assert b"".join([chunk async for chunk in chunks]).endswith(b"data: done\n\n")
            # else: leaving the block closes the connection mid-stream
            await eventually(free, f"the slot was not given back ({ending})")
            finish.clear()


OLD_SCHEMA = """CREATE TABLE meshline_api_keys (
    id VARCHAR(32) NOT NULL PRIMARY KEY, digest VARCHAR(64) NOT NULL UNIQUE, tenant VARCHAR(128) NOT NULL,
    user VARCHAR(128), scopes VARCHAR(256) NOT NULL, name VARCHAR(200) NOT NULL, created_at FLOAT NOT NULL,
    expires_at FLOAT, revoked_at FLOAT, created_by VARCHAR(32))"""


def write_old_keys_file(home: Path, key: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(home / "keys.sqlite")) as db:
        db.execute(OLD_SCHEMA)
        db.execute(
            "INSERT INTO meshline_api_keys VALUES ('old1', ?, 'acme', NULL, 'chat', 'old', ?, NULL, NULL, 'admin')",
            (digest(key), time.time()),
        )
        db.commit()


def key_columns(home: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(home / "keys.sqlite")) as db:
        return {row[1] for row in db.execute("PRAGMA table_info(meshline_api_keys)")}


async def test_a_keys_file_from_before_limits_opens_and_gains_the_columns(
    app_env: None, mesh_env: dict[str, str]
) -> None:
    home = Path(mesh_env["MESHLINE_HOME"])
    write_old_keys_file(home, "ml_old-key")
    async with running(create_app(OrchestratorSettings())) as http:
        old = await http.get("/v1/threads/none", headers=bearer("ml_old-key"))
        assert old.status_code == 404, "the old key works (an unknown thread)"
        await mint(http, rate_limit_rps=1, name="new")
        listed = (await http.get("/v1/keys?tenant=acme", headers=bearer(ADMIN))).json()["keys"]
        assert {k["name"]: k["rate_limit_rps"] for k in listed} == {"old": None, "new": 1.0}
    assert {"rate_limit_rps", "max_concurrent_turns"} <= key_columns(home)


async def test_cli_and_sdk_mint_keys_with_limits(app_env: None) -> None:
    app = create_app(OrchestratorSettings())
    async with served(app) as url:
        cli, runner = build_app(), CliRunner()
        args = ["keys", "create", "--url", url, "--key", ADMIN, "--tenant", "acme", "--rate-limit", "2.5"]
        created = await asyncio.to_thread(runner.invoke, cli, [*args, "--max-turns", "3"])
        assert created.exit_code == 0, created.output
        assert "limits 2.5/s 3 turns" in created.stderr
        async with AsyncClient(url, ADMIN) as admin:
            minted = await admin.keys.create("acme", ["chat"], rate_limit_rps=1, max_concurrent_turns=2)
            assert (minted.rate_limit_rps, minted.max_concurrent_turns) == (1, 2)
            with pytest.raises(InvalidRequestError):
                await admin.keys.create("acme", ["chat"], max_concurrent_turns=0)  # refused before any request
        listed = await asyncio.to_thread(runner.invoke, cli, ["keys", "list", "--url", url, "--key", ADMIN])
        assert "2.5/s 3 turns" in listed.stdout and "1/s 2 turns" in listed.stdout
