"""``create_app``: the knowledge agent service (port 8101, manifest name ``knowledge``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meshline import __version__
from meshline.agents.assistant.llm_client import LLMLayer
from meshline.agents.retrieval.knowledge_client import KnowledgeBase
from meshline.agents.retrieval.manifest import manifest
from meshline.agents.retrieval.routes import router
from meshline.agents.retrieval.runtime import RetrievalRuntime
from meshline.agents.retrieval.settings import RetrievalSettings
from meshline.resilience import ServiceClient
from meshline.service.app import add_readiness_check, create_service_app


def create_app(settings: RetrievalSettings | None = None) -> FastAPI:
    settings = settings or RetrievalSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = ServiceClient.for_app(app, settings.llm_timeout_s)
        llm = LLMLayer(client, settings.mesh.llm_url, timeout_s=settings.llm_timeout_s)
        knowledge = KnowledgeBase(client, settings.mesh.memory_url, settings.search_timeout_s)
        app.state.runtime = RetrievalRuntime(settings, knowledge, llm)
        add_readiness_check(app, "llm", llm.health)
        try:
            yield
        finally:
            await client.aclose()

    app = create_service_app(
        settings=settings, routers=[router], lifespan=lifespan, version=__version__, title="meshline agent knowledge"
    )
    app.state.manifest = manifest(__version__, settings.name)
    return app
