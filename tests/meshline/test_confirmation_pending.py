"""The orchestrator's open questions (pending calls) in a real Redis: they expire after the
configured TTL counted from the question, turns that leave one open do not extend it, and
another agent's turn closes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from meshline.contracts.agent import PendingCall
from meshline.orchestrator.app import build_caller
from meshline.orchestrator.identity import Actor
from meshline.orchestrator.pending import PendingCalls
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience.client import ServiceClient
from meshline.resilience.metrics import ResilienceMetrics
from meshline.service.auth import ServiceTokenIssuer
from meshline.testing.wait import wait_until

CALL = PendingCall(id="call-1", service="commerce-tools", tool="issue_refund", arguments={"order_id": "ord-1"})
THREAD = Actor("acme", "alice").thread_key("t1")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_question_expires_after_its_ttl(redis: Redis) -> None:
    pending = PendingCalls(redis, ttl_s=0.3)
    key = pending.key(THREAD, "commerce")
    await pending.put(key, CALL)
    assert await pending.get(key) == CALL
    assert 0 < await redis.pttl(key) <= 300
    await wait_until(lambda: _gone(pending, key), timeout=0.5, what="the question expired")
    assert await pending.get(key) is None


async def test_leaving_a_question_open_does_not_extend_it(redis: Redis) -> None:
    pending = PendingCalls(redis, ttl_s=60)
    key = pending.key(THREAD, "commerce")
    await pending.put(key, CALL)
    await redis.pexpire(key, 5_000)  # as if most of its minute had passed
    await pending.settle(key, CALL, CALL)  # asked again, or a turn about something else
    assert 0 < await redis.pttl(key) <= 5_000
    newer = CALL.model_copy(update={"id": "call-2"})
    await pending.settle(key, CALL, newer)  # a new question: its own clock
    assert await pending.get(key) == newer and await redis.pttl(key) > 5_000
    await pending.settle(key, newer, None)  # confirmed or cancelled
    assert await pending.get(key) is None


async def test_dropping_closes_only_the_named_questions(redis: Redis) -> None:
    pending = PendingCalls(redis)
    commerce, account = pending.key(THREAD, "commerce"), pending.key(THREAD, "account")
    await pending.put(commerce, CALL)
    await pending.put(account, CALL)
    await pending.drop([commerce])
    assert await pending.get(commerce) is None and await pending.get(account) == CALL


async def test_the_ttl_is_a_setting_of_minutes_by_default(
    redis: Redis, monkeypatch: pytest.MonkeyPatch, token_keys: tuple[str, str]
) -> None:
    assert OrchestratorSettings().pending_ttl_s == 300
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_PENDING_TTL_S", "45")
    client = ServiceClient()
    caller = build_caller(
        OrchestratorSettings(), client, ServiceRegistry(redis), ServiceTokenIssuer(token_keys[0]),
        ResilienceMetrics(CollectorRegistry()),
    )  # fmt: skip
    await client.aclose()  # the caller's Redis side is all this test uses
    key = caller.pending.key(THREAD, "commerce")
    await caller.pending.put(key, CALL)
    assert 40_000 < await redis.pttl(key) <= 45_000


async def _gone(pending: PendingCalls, key: str) -> bool:
    return await pending.get(key) is None
