"""``create_app``: an assistant agent service, made specific by its profile, on the agent kit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meshline import __version__
from meshline.agents.assistant.mcp_transport import McpTransport
from meshline.agents.assistant.profile import Profile, ProfileError, load_profile
from meshline.agents.assistant.runtime import AssistantRuntime
from meshline.agents.assistant.settings import AssistantSettings
from meshline.agents.assistant.tool_catalog import ToolCatalog
from meshline.agents.kit import AgentClients, Handler, create_agent_app
from meshline.mcp_client import McpToolClient
from meshline.resilience import AddressGuard, CallPipeline, GuardedTransport, GuardedTransport2, ServiceClient


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
    async def tool_catalog(clients: AgentClients) -> AsyncIterator[Handler]:
        # Tool services are at registered URLs: every new connection to one goes through the address guard.
        guard = AddressGuard(settings.tool_allow_networks)
        tools_client = ServiceClient.for_app(
            clients.app, settings.tool_timeout_s, GuardedTransport(guard, keepalive=True)
        )
        mcp = McpTransport(
            timeout_s=settings.tool_timeout_s,
            list_timeout_s=settings.mcp_list_timeout_s,
            client=McpToolClient(timeout_s=settings.tool_timeout_s, transport=GuardedTransport2(guard, keepalive=True)),
        )
        # The same breaker as the LLM layer's: one per process, per target name.
        pipeline = CallPipeline(tools_client, clients.pipeline.policy)
        catalog = ToolCatalog(
            pipeline, mcp, timeout_s=settings.tool_timeout_s, manifest_timeout_s=settings.tool_manifest_timeout_s
        )
        try:
            yield AssistantRuntime(profile, catalog).events
        finally:
            await catalog.aclose()
            await mcp.client.aclose()
            await tools_client.aclose()

    app = create_agent_app(
        settings=settings,
        manifest=profile.manifest(__version__),
        setup=tool_catalog,
        title=f"meshline agent {profile.name}",
    )
    app.state.profile = profile
    return app
