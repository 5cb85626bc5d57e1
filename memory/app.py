"""The memory service app: user memories and knowledge bases on shared embeddings, Chroma and Redis.

Both domains share the embedding model, the tenant-namespaced Chroma client
(:mod:`meshline.memory.chroma`), the Redis connection and the stream-consumer loop; each has
its own routes, store and worker (:mod:`meshline.memory.memories`,
:mod:`meshline.memory.knowledge_bases`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from meshline.embeddings import Embedder, load_embedder
from meshline.errors import ServiceUnavailable
from meshline.memory import embedding_api
from meshline.memory.chroma import TenantCollections, open_chroma_client
from meshline.memory.knowledge_bases import routes as kb_routes
from meshline.memory.knowledge_bases.ingest_worker import IngestWorker
from meshline.memory.knowledge_bases.jobs import JobBook
from meshline.memory.knowledge_bases.lexical import LexicalIndexes
from meshline.memory.knowledge_bases.metrics import IngestMetrics
from meshline.memory.knowledge_bases.parse_pool import ParsePool, sandbox_limits
from meshline.memory.knowledge_bases.search import KnowledgeBaseSearch
from meshline.memory.knowledge_bases.store import KnowledgeBaseStore
from meshline.memory.memories import routes as memory_routes
from meshline.memory.memories.store import MemoryStore
from meshline.memory.memories.write_worker import MemoryWorker
from meshline.memory.settings import MemorySettings
from meshline.service import add_readiness_check, create_service_app

REDIS_SOCKET_MARGIN_S = 5.0


def create_app(
    settings: MemorySettings | None = None, *, embedder: Embedder | None = None, parse_target: str | None = None
) -> FastAPI:
    """Build the memory service.

    ``embedder``: an already loaded embedder to use (and not close), e.g. one shared by tests;
    by default the lifespan loads the configured model once and releases it on shutdown.
    ``parse_target``: ``module:function`` the parse sandbox runs instead of the real parser
    (tests, to stand for a parser that misbehaves).
    """
    settings = settings or MemorySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model: Embedder = (
            embedder if embedder is not None else await asyncio.to_thread(load_embedder, settings.embedding())
        )
        client = await asyncio.to_thread(open_chroma_client, settings)
        collections = TenantCollections(client, model, settings.chroma_timeout_s)
        store = MemoryStore(collections)
        kb_store = KnowledgeBaseStore(collections)
        redis = aioredis.Redis.from_url(
            settings.mesh.redis_url,
            decode_responses=True,
            socket_connect_timeout=settings.mesh.connect_timeout_s,
            # Above the worker's XREADGROUP BLOCK, so a blocking read is not cut short.
            socket_timeout=settings.worker_block_ms / 1000 + REDIS_SOCKET_MARGIN_S,
        )
        worker = MemoryWorker(redis, store, model, settings)
        lexical = LexicalIndexes(kb_store, redis)
        metrics = IngestMetrics(app.state.metrics_registry)
        app.state.ingest_metrics = metrics
        parser = ParsePool(
            sandbox_limits(settings),
            size=settings.parse_workers,
            wall_s=settings.parse_wall_s,
            target=parse_target,
            metrics=metrics,
        )
        if settings.worker_enabled:
            await parser.start()
        ingester = IngestWorker(redis, kb_store, lexical, model, settings, parser)
        app.state.embedder, app.state.memory_store, app.state.redis = model, store, redis
        app.state.worker, app.state.ingester, app.state.parser = worker, ingester, parser
        app.state.kb_store, app.state.jobs = kb_store, JobBook(redis, settings.job_ttl_s)
        app.state.kb_search = KnowledgeBaseSearch(kb_store, lexical, model, settings.search_candidates, settings.rrf_k)
        if settings.worker_enabled:
            worker.start()
            ingester.start()

        async def model_loaded() -> None:
            if not model.ready():
                raise ServiceUnavailable("embedding model not loaded")

        async def worker_alive() -> None:
            if settings.worker_enabled and not (worker.alive and ingester.alive and parser.alive):
                raise ServiceUnavailable("memory write or ingestion worker (or its parse sandbox) stopped")

        add_readiness_check(app, "redis", redis.ping)
        add_readiness_check(app, "chroma", store.collections.heartbeat)
        add_readiness_check(app, "embedding_model", model_loaded)
        add_readiness_check(app, "worker", worker_alive)
        try:
            yield
        finally:
            if settings.worker_enabled:
                await worker.stop(timeout_s=settings.chroma_timeout_s)
                await ingester.stop(timeout_s=settings.chroma_timeout_s)
            await parser.close()
            await redis.aclose()
            await store.collections.close()
            if embedder is None:
                model.close()

    return create_service_app(
        settings=settings, routers=[memory_routes.router, embedding_api.router, kb_routes.router], lifespan=lifespan
    )
