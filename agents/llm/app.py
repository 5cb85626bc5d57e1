"""The LLM layer service: a litellm router over the models of the mesh config, behind the OpenAI API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from meshline.agents.llm.config import load_config
from meshline.agents.llm.model_router import PROBE_TIMEOUT_S, ModelCatalog, probe_default_alias
from meshline.agents.llm.routes import router
from meshline.agents.llm.settings import LlmSettings
from meshline.resilience.client import ServiceClient
from meshline.resilience.retry import RetryPolicy
from meshline.service.app import add_readiness_check, create_service_app


def create_app(settings: LlmSettings | None = None) -> FastAPI:
    """Build the service; the config is read and the router built when the app starts."""
    settings = settings or LlmSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = load_config(
            settings.config,
            override_model=settings.model,
            override_api_base=settings.api_base,
            override_api_key=settings.api_key,
        )
        catalog = ModelCatalog.from_config(
            config, timeout_s=settings.request_timeout_s, num_retries=settings.num_retries
        )
        probe_client = ServiceClient(
            timeout_s=PROBE_TIMEOUT_S,
            connect_timeout_s=min(settings.mesh.connect_timeout_s, PROBE_TIMEOUT_S),
            retry=RetryPolicy(max_attempts=1),
            max_connections=8,
        )
        app.state.catalog = catalog
        add_readiness_check(app, "models", partial(probe_default_alias, probe_client, catalog))
        try:
            yield
        finally:
            await probe_client.aclose()
            catalog.close()

    return create_service_app(settings=settings, routers=[router], lifespan=lifespan)
