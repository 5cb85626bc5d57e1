"""The key store under stress: its cache, revocation across replicas, a database that goes away.

Real Redis, real SQLite; the outage runs a real Postgres (DATABASE_URL) behind a TCP relay the
test cuts, so the database really becomes unreachable mid-test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from meshline.cli.ports import free_port
from meshline.cli.redis_server import start_redis
from meshline.errors import ServiceUnavailable
from meshline.orchestrator.app import create_app
from meshline.orchestrator.key_cache import ConfirmedKeys
from meshline.orchestrator.key_db import create_schema, open_engine
from meshline.orchestrator.key_store import REVOKED_CHANNEL, ApiKeyStore
from meshline.orchestrator.keys import ApiKeyRecord
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience.last_known import REDIS_DOWN
from meshline.testing.wait import wait_until

DATABASE_URL = os.environ.get("DATABASE_URL")


async def open_store(url: str, redis: Redis, cache: ConfirmedKeys | None = None) -> ApiKeyStore:
    engine = open_engine(url)
    await create_schema(engine)
    store = ApiKeyStore(engine, redis, cache, db_timeout_s=2.0)
    store.start()
    return store


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    yield client
    await client.aclose()


def record(key_id: str, **fields: object) -> ApiKeyRecord:
    return ApiKeyRecord.model_validate({"id": key_id, "tenant": "acme", "scopes": ["chat"], **fields})


def test_cache_keeps_valid_keys_and_never_misses() -> None:
    cache = ConfirmedKeys(fresh_s=60, outage_s=600, max_entries=3)
    for n in range(3):
        cache.put(f"d{n}", record(f"k{n}"))
    assert cache.fresh("d0") is not None  # used: now the most recent
    cache.put("d3", record("k3"))  # a fourth valid key evicts the least recently used (d1)
    assert cache.fresh("d1") is None and cache.fresh("d0") is not None and len(cache) == 3
    for n in range(1000):  # unknown keys never enter, so they push nothing out
        assert cache.fresh(f"random-{n}") is None
    assert len(cache) == 3 and cache.fresh("d0") is not None
    cache.forget("k0")
    assert cache.fresh("d0") is None and cache.last_known("d0") is None


def test_cache_windows_and_expiry() -> None:
    cache = ConfirmedKeys(fresh_s=60, outage_s=600)
    cache.put("d", record("k"))
    cache.expire_all()  # an invalidation may have been missed: ask the database first...
    assert cache.fresh("d") is None
    assert cache.last_known("d") is not None  # ...but an outage may still serve it
    cache.put("gone", record("g", expires_at=time.time() - 1))
    assert cache.fresh("gone") is None and cache.last_known("gone") is None and len(cache) == 1
    brief = ConfirmedKeys(fresh_s=0, outage_s=0)
    brief.put("d", record("k"))
    assert brief.fresh("d") is None and brief.last_known("d") is None


async def test_revocation_reaches_the_other_replica_through_redis(redis: Redis, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite'}"
    # A minute-long fresh window: only the invalidation message can make B drop the key this fast.
    a = await open_store(url, redis, ConfirmedKeys(fresh_s=60))
    b = await open_store(url, redis, ConfirmedKeys(fresh_s=60))
    try:
        key, rec = await a.create(tenant="acme", scopes=["chat"])
        assert await a.lookup(key) == rec and await b.lookup(key) == rec
        await wait_for(lambda: subscribers(redis), 2, "both listeners subscribed")
        await a.revoke(rec.id)
        assert await a.lookup(key) is None
        await wait_until(lambda: none(b.lookup(key)), timeout=3, what="replica B still accepts the revoked key")
    finally:
        await a.aclose()
        await b.aclose()


class Relay:
    """A TCP relay to the database that the test can cut (as a network partition or a dead host would)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()


@pytest.mark.skipif(not DATABASE_URL, reason="set DATABASE_URL to a PostgreSQL database")
async def test_database_outage_serves_recently_confirmed_keys_only(redis: Redis) -> None:
    real = make_url(str(DATABASE_URL))
    relay = Relay(real.host or "127.0.0.1", real.port or 5432)
    port = await relay.start()
    url = real.set(drivername="postgresql+psycopg", host="127.0.0.1", port=port).render_as_string(False)
    store = await open_store(url, redis, ConfirmedKeys(fresh_s=0, outage_s=600))  # fresh_s=0: always ask first
    try:
        seen, seen_rec = await store.create(tenant="acme", scopes=["chat"])
        unseen, _ = await store.create(tenant="acme", scopes=["chat"])
        assert await store.lookup(seen) == seen_rec
        await relay.cut()
        started = time.monotonic()
        assert await store.lookup(seen) == seen_rec  # confirmed a moment ago: keeps working
        with pytest.raises(ServiceUnavailable) as unknown:
            await store.lookup(unseen)  # valid in the database, but this process cannot tell now
        assert (unknown.value.status, unknown.value.code, unknown.value.retryable) == (503, "state_unavailable", True)
        with pytest.raises(ServiceUnavailable):
            await store.create(tenant="acme", scopes=["chat"])
        assert time.monotonic() - started < 10, "every database call is bounded by the store's timeout"
        assert store.db_degraded
        assert await store.lookup("not-a-key") is None  # garbage never needs the database
    finally:
        await store.aclose()


@pytest.mark.skipif(not DATABASE_URL, reason="set DATABASE_URL to a PostgreSQL database")
async def test_over_http_an_outage_is_a_503_problem_never_a_500(mesh_env: dict[str, str], redis: Redis) -> None:
    real = make_url(str(DATABASE_URL))
    relay = Relay(real.host or "127.0.0.1", real.port or 5432)
    port = await relay.start()
    url = real.set(drivername="postgresql+psycopg", host="127.0.0.1", port=port).render_as_string(False)
    app = create_app(OrchestratorSettings())
    async with app.router.lifespan_context(app):
        await app.state.api_keys.aclose()
        app.state.api_keys = store = await open_store(url, redis, ConfirmedKeys(fresh_s=0))
        try:
            seen, _ = await store.create(tenant="acme", scopes=["chat"])
            unseen, _ = await store.create(tenant="acme", scopes=["chat"])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://o") as http:

                async def read(key: str) -> httpx.Response:
                    return await http.get("/v1/threads/t", headers={"authorization": f"Bearer {key}"})

                assert (await read(seen)).status_code == 404
                await relay.cut()
                assert (await read(seen)).status_code == 404  # accepted: the thread is simply not there
                down = await read(unseen)
                assert down.status_code == 503 and down.json()["code"] == "state_unavailable"
                assert down.headers["content-type"].startswith("application/problem+json")
                assert (await read("ml_" + "x" * 43)).status_code == 503  # cannot be told from a real key now
                assert (await read("garbage")).status_code == 401  # can never be a key
        finally:
            await store.aclose()


async def test_invalidations_resume_after_redis_comes_back(tmp_path: Path) -> None:
    port = free_port()
    server = start_redis(port)
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=2, socket_connect_timeout=1)
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite'}"
    a = await open_store(url, client, ConfirmedKeys(fresh_s=60))
    b = await open_store(url, client, ConfirmedKeys(fresh_s=60))
    try:
        key, rec = await a.create(tenant="acme", scopes=["chat"])
        assert await b.lookup(key) == rec
        server.kill()
        server.wait(timeout=10)
        await wait_until(lambda: a._redis_degraded and b._redis_degraded, what="the listeners notice the outage")
        server = start_redis(port)
        await wait_for(lambda: subscribers(client), 2, "both listeners subscribe again")
        assert await b.lookup(key) == rec  # confirmed again (resubscribing asked for it), fresh for a minute
        await a.revoke(rec.id)  # so only the invalidation message can make B drop it now
        await wait_for(lambda: none(b.lookup(key)), True, "replica B drops the key revoked on A")
    finally:
        await a.aclose()
        await b.aclose()
        await client.aclose()
        server.kill()
        server.wait(timeout=10)


async def subscribers(client: Redis) -> int:
    with contextlib.suppress(*REDIS_DOWN):
        [(_, count)] = await client.pubsub_numsub(REVOKED_CHANNEL)
        return int(count)
    return 0


async def none(lookup: Awaitable[ApiKeyRecord | None]) -> bool:
    return await lookup is None


async def wait_for(probe: Callable[[], Awaitable[object]], expected: object, what: str, timeout_s: float = 5) -> None:
    async def met() -> bool:
        return await probe() == expected

    await wait_until(met, timeout=timeout_s, what=what)
