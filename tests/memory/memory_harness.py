"""An in-process memory service for tests (real Redis, real embedded Chroma, a shared model)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from meshline.embeddings import Embedder
from meshline.memory.app import create_app
from meshline.memory.settings import MemorySettings
from meshline.testing.asgi import asgi_client
from meshline.testing.wait import WaitTimeout, wait_until


@dataclass
class MemoryService:
    app: FastAPI
    http: httpx.AsyncClient


@asynccontextmanager
async def running_memory(
    settings: MemorySettings, embedder: Embedder, parse_target: str | None = None
) -> AsyncIterator[MemoryService]:
    """The app with its lifespan entered (worker running unless disabled) and a client on it."""
    app = create_app(settings, embedder=embedder, parse_target=parse_target)
    async with asgi_client(app, "http://memory") as http:
        yield MemoryService(app, http)


async def wait_until_drained(settings: MemorySettings, timeout_s: float = 20.0) -> None:
    """Wait until the worker has stored every queued write (stored entries are acked and deleted)."""
    redis = aioredis.Redis.from_url(settings.mesh.redis_url, decode_responses=True)
    try:

        async def drained() -> bool:
            return bool(await redis.xlen(settings.stream_key) == 0)

        try:
            await wait_until(drained, timeout=timeout_s, interval=0.02)
        except WaitTimeout:
            raise AssertionError(
                f"the worker left {await redis.xlen(settings.stream_key)} write(s) unprocessed"
            ) from None
        pending = await redis.xpending(settings.stream_key, settings.consumer_group)
        assert pending["pending"] == 0
    finally:
        await redis.aclose()
