"""``create_app``: an assistant agent service, made specific by its profile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meshline import __version__
from meshline.agents.assistant.llm_client import LLMLayer
from meshline.agents.assistant.mcp_transport import McpTransport
from meshline.agents.assistant.profile import Profile, ProfileError, load_profile
from meshline.agents.assistant.routes import router
from meshline.agents.assistant.runtime import AssistantRuntime
from meshline.agents.assistant.settings import AssistantSettings
from meshline.agents.assistant.tool_catalog import ToolCatalog
from meshline.mcp_client import McpToolClient
from meshline.resilience import ServiceClient
from meshline.resilience.address_guard import AddressGuard, GuardedTransport, GuardedTransport2
from meshline.resilience.circuit_breaker import CircuitBreaker, LocalBreakerStore
from meshline.service.app import add_readiness_check, create_service_app


def settings_for(profile: Profile, settings: AssistantSettings) -> AssistantSettings:
    """The service is named after its profile: service tokens are addressed to that name."""
    if not settings.name:
        return settings.model_copy(update={"name": profile.name})
    if settings.name != profile.name:
        raise ProfileError(f"service name {settings.name!r} differs from profile name {profile.name!r}")
    return settings


def create_app(settings: AssistantSettings | None = None) -> FastAPI:
    base = settings or AssistantSettings()
    profile = load_profile(base.profile)
    settings = settings_for(profile, base)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = ServiceClient.for_app(app, settings.llm_timeout_s)
        # One breaker per process for every target this agent calls (the LLM layer, each tool service).
        breaker = CircuitBreaker(LocalBreakerStore(), metrics=app.state.resilience_metrics)
        llm = LLMLayer(client, settings.mesh.llm_url, timeout_s=settings.llm_timeout_s, breaker=breaker)
        # Tool services are at registered URLs: every new connection to one goes through the address guard.
        guard = AddressGuard(settings.tool_allow_networks)
        tools_client = ServiceClient.for_app(app, settings.tool_timeout_s, GuardedTransport(guard, keepalive=True))
        mcp = McpTransport(
            timeout_s=settings.tool_timeout_s,
            client=McpToolClient(timeout_s=settings.tool_timeout_s, transport=GuardedTransport2(guard, keepalive=True)),
        )
        catalog = ToolCatalog(tools_client, timeout_s=settings.tool_timeout_s, mcp=mcp, breaker=breaker)
        app.state.runtime = AssistantRuntime(profile, llm, catalog)
        add_readiness_check(app, "llm", llm.health)
        try:
            yield
        finally:
            await catalog.aclose()
            await mcp.client.aclose()
            await tools_client.aclose()
            await client.aclose()

    app = create_service_app(
        settings=settings,
        routers=[router],
        lifespan=lifespan,
        version=__version__,
        title=f"meshline agent {profile.name}",
    )
    app.state.profile = profile
    app.state.manifest = profile.manifest(__version__)
    return app
