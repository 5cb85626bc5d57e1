"""Orchestrator test fixtures: one bundled MiniLM for the whole session (loading it takes seconds)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from meshline.memory.embeddings import LocalEmbedder
from meshline.orchestrator.routing_embedder import RouteEmbedder


@pytest.fixture(scope="session")
def minilm() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def route_embedder(minilm: LocalEmbedder) -> RouteEmbedder:
    return RouteEmbedder("local", minilm)


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
