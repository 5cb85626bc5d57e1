"""The LLM layer service: versioned model aliases over litellm, behind the OpenAI API, with an admin API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from redis.asyncio import Redis

from meshline.agents.llm.admin_routes import router as admin_router
from meshline.agents.llm.config import load_config
from meshline.agents.llm.endpoint_slots import EndpointSlots
from meshline.agents.llm.gateway import ModelGateway
from meshline.agents.llm.health import Cooldowns, HealthWindows, RollbackThresholds
from meshline.agents.llm.model_registry import ModelRegistryStore
from meshline.agents.llm.provider_keys import ProviderKeys
from meshline.agents.llm.readiness import probe_default_alias
from meshline.agents.llm.routes import router
from meshline.agents.llm.settings import LlmSettings
from meshline.agents.llm.telemetry import LlmMetrics
from meshline.agents.llm.versions import seed
from meshline.resilience import RetryPolicy, ServiceClient
from meshline.service import BackgroundTasks, add_readiness_check, create_service_app

SEEDED_BY = "meshline (config)"


def create_app(settings: LlmSettings | None = None) -> FastAPI:
    """Build the service; the config is read, the registry seeded and the router built when the app starts."""
    settings = settings or LlmSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = load_config(
            settings.config,
            override_model=settings.model,
            override_api_base=settings.api_base,
            override_api_key=settings.api_key,
            environ=settings.environment(),
        )
        redis = Redis.from_url(settings.mesh.redis_url, socket_timeout=5, socket_connect_timeout=2)
        store = ModelRegistryStore(redis)
        background = BackgroundTasks()
        gateway = ModelGateway(
            config=config,
            keys=ProviderKeys(config, settings.environment(), settings.provider_key_vars),
            store=store,
            health=HealthWindows(
                RollbackThresholds(
                    window_s=settings.rollback_window_s,
                    min_requests=settings.rollback_min_requests,
                    max_error_rate=settings.rollback_max_error_rate,
                    max_p95_latency_s=settings.rollback_max_p95_latency_s,
                )
            ),
            cooldowns=Cooldowns(settings.cooldown_failures, settings.cooldown_window_s, settings.cooldown_s),
            metrics=LlmMetrics(app.state.metrics_registry),
            background=background,
            timeout_s=settings.request_timeout_s,
            num_retries=settings.num_retries,
            slots=EndpointSlots(settings.endpoint_limits, settings.endpoint_queue_s, app.state.resilience_metrics),
        )
        registry, _ = await store.change(
            lambda r: seed(r, config) or False,
            who=SEEDED_BY,
            action="seed",
            alias="*",
            detail={"source": str(settings.config)},
        )
        await gateway.apply(registry)
        probe_client = ServiceClient(
            timeout_s=settings.models_probe_timeout_s,
            connect_timeout_s=min(settings.mesh.connect_timeout_s, settings.models_probe_timeout_s),
            retry=RetryPolicy(max_attempts=1),
            max_connections=8,
        )
        app.state.gateway, app.state.redis, app.state.store = gateway, redis, store
        add_readiness_check(
            app, "models", partial(probe_default_alias, probe_client, gateway, settings.models_probe_timeout_s)
        )
        add_readiness_check(app, "redis", redis.ping)
        stop = asyncio.Event()
        watcher = asyncio.create_task(store.watch(registry.revision, gateway.apply, settings.registry_poll_s, stop))
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watcher), timeout=5)
            await background.drain()
            await probe_client.aclose()
            gateway.close()
            await redis.aclose()

    return create_service_app(settings=settings, routers=[router, admin_router], lifespan=lifespan)
