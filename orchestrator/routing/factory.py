"""The router as the orchestrator's settings configure it: :func:`build_router`."""

from __future__ import annotations

from redis.asyncio import Redis

from meshline.orchestrator.routing.embedder import RouteEmbedder
from meshline.orchestrator.routing.index import RouteIndex
from meshline.orchestrator.routing.llm_stage import LlmChooser
from meshline.orchestrator.routing.router import Router, RouterConfig
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience import ServiceClient


def build_router(settings: OrchestratorSettings, redis: Redis, client: ServiceClient) -> Router:
    """The semantic router; its embedder starts loading now, in the background (call it in a running loop)."""
    embedder = RouteEmbedder(settings.route_embedding())
    embedder.start()
    index = RouteIndex(redis, embedder.embed, embedder.model, settings.route_max_fitted_per_agent)
    config = RouterConfig.from_settings(settings)
    llm = (
        LlmChooser(client, settings.mesh.llm_url, settings.route_llm_model, settings.route_llm_timeout_s)
        if settings.route_use_llm
        else None
    )
    return Router(index, embedder, config, llm)
