"""Orchestrator test fixtures: one bundled MiniLM for the whole session (loading it takes seconds)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from meshline.embeddings import EmbeddingSettings
from meshline.orchestrator.routing import RouteEmbedder, TracedMiniLM


@pytest.fixture(scope="session")
def minilm() -> TracedMiniLM:
    """The router's own MiniLM (what the orchestrator loads for ``route_embedding_model=local``)."""
    return TracedMiniLM()


@pytest.fixture
def route_embedder(minilm: TracedMiniLM) -> RouteEmbedder:
    return RouteEmbedder(EmbeddingSettings(), minilm)


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
