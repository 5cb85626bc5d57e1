"""Redis dies: the orchestrator's chat path goes on with what it last read, and returns to Redis after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from meshline.cli.ports import free_port
from meshline.cli.redis_server import start_redis
from meshline.contracts.agent import PendingCall
from meshline.contracts.manifest import Manifest
from meshline.errors import Conflict, ServiceUnavailable
from meshline.orchestrator.identity import Actor
from meshline.orchestrator.key_cache import ConfirmedKeys
from meshline.orchestrator.key_db import create_schema, open_engine
from meshline.orchestrator.key_store import ApiKeyStore
from meshline.orchestrator.pending import PendingCalls
from meshline.orchestrator.registry import EPOCH, INSTANCES, MANIFESTS, Instance, ServiceRegistry
from meshline.orchestrator.thread_locks import ThreadLocks


class Outage:
    """A private redis-server that a test can kill and bring back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = start_redis(self.port)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.proc = start_redis(self.port)


@pytest.fixture
def outage() -> Iterator[Outage]:
    server = Outage()
    yield server
    server.kill()


@pytest.fixture
async def redis(outage: Outage) -> AsyncIterator[Redis]:
    client = Redis.from_url(f"redis://127.0.0.1:{outage.port}/0", socket_connect_timeout=1, socket_timeout=2)
    yield client
    await client.aclose()


async def test_registry_reads_serve_the_last_known_state_while_redis_is_down(outage: Outage, redis: Redis) -> None:
    registry = ServiceRegistry(redis)
    await redis.set(EPOCH, "1")
    await redis.hset(MANIFESTS, "general", Manifest(name="general", kind="agent").model_dump_json())
    await redis.hset(INSTANCES.format(name="general"), "http://a:1", Instance(url="http://a:1").model_dump_json())
    try:
        assert [e.name for e in await registry.list()] == ["general"]
        assert await registry.pick("general") == "http://a:1"
        outage.kill()
        assert [e.name for e in await registry.list(kind="agent")] == ["general"]
        assert await registry.pick("general") == "http://a:1"
        with pytest.raises(ServiceUnavailable) as never_read:
            await registry.manifest("commerce")  # never read before the outage: an honest 503
        assert never_read.value.code == "state_unavailable"
        outage.restart()  # empty: this redis keeps nothing on disk
        assert [e.name for e in await registry.list()] == ["general"]  # written back on the first read
        assert await redis.hkeys(MANIFESTS) == [b"general"]
        assert [i.url for i in await registry.instances("general")] == ["http://a:1"]
        await registry.remove("general")
        assert not await registry.restore_if_lost(), "deregistering everything is not undone"
    finally:
        await registry.aclose()


async def test_api_keys_do_not_depend_on_redis(outage: Outage, redis: Redis, tmp_path: Path) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite'}")
    await create_schema(engine)
    keys = ApiKeyStore(engine, redis, ConfirmedKeys(fresh_s=0))  # every lookup asks the database
    try:
        key, record = await keys.create(tenant="acme", scopes=["chat"], user="alice")
        outage.kill()
        assert await keys.lookup(key) == record
        assert await keys.lookup("ml_never-seen") is None  # unknown stays a 401, not a 503
        await keys.revoke(record.id)  # lands in the database; only the notice to other replicas is lost
        assert await keys.lookup(key) is None
    finally:
        await keys.aclose()


async def test_thread_locks_fall_back_to_this_process(outage: Outage, redis: Redis) -> None:
    locks = ThreadLocks(redis)
    outage.kill()
    async with locks.hold("acme:alice:t1", budget_s=1):
        with pytest.raises(Conflict):
            async with locks.hold("acme:alice:t1", budget_s=0.1):
                pass
        async with locks.hold("acme:alice:t2", budget_s=0.1):  # other threads are not held up
            pass


async def test_a_question_asked_during_an_outage_can_be_confirmed_after_it(outage: Outage, redis: Redis) -> None:
    pending = PendingCalls(redis)
    key = pending.key(Actor("acme", "alice").thread_key("t1"), "commerce")
    outage.kill()
    call = PendingCall(id="call-1", service="commerce-tools", tool="cancel_order", arguments={"order_id": 1042})
    await pending.put(key, call)
    assert await pending.get(key) == call
    outage.restart()
    assert await pending.get(key) == call
    await pending.put(key, None)  # confirmed: closed everywhere
    assert await pending.get(key) is None
