"""``create_tool_app``: a FastAPI tool service from a list of tools.

``GET /v1/manifest`` describes every tool (JSON Schemas, ``side_effects``); ``POST
/v1/tools/{name}`` (scope ``tools:call``) validates the arguments, runs the tool for the tenant
and customer named by the service token and returns its result. Side-effecting tools require
``Idempotency-Key``. The same tools are served over MCP at ``/mcp`` (see :mod:`mcp_server`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Request
from starlette.routing import Route

from meshline.contracts import Manifest
from meshline.errors import NotFound
from meshline.json_types import JsonObject
from meshline.service import TOOLS_CALL, Identity, add_readiness_check, create_service_app, require_identity
from meshline.tools.kit.calls import TenantSetup, ToolRuntime, run_tool
from meshline.tools.kit.database import Database
from meshline.tools.kit.idempotency import KitBase
from meshline.tools.kit.mcp_server import MCP_PATH, mcp_endpoint
from meshline.tools.kit.schema_check import OutdatedSchemaPolicy
from meshline.tools.kit.settings import ToolServiceSettings
from meshline.tools.kit.tenancy import TenantScope
from meshline.tools.kit.tool import ToolDef

Startup = Callable[[Database], Awaitable[None]]
Caller = Annotated[Identity, Depends(require_identity(TOOLS_CALL))]


def build_manifest(name: str, description: str, version: str, tools: Sequence[ToolDef]) -> Manifest:
    return Manifest(name=name, kind="tool", version=version, description=description, tools=[t.spec() for t in tools])


def tool_router(tools: Sequence[ToolDef]) -> APIRouter:
    by_name = {t.name: t for t in tools}
    router = APIRouter(prefix="/v1", tags=["tools"])

    @router.get("/manifest", response_model=Manifest)
    async def manifest(request: Request) -> Manifest:
        """What this service offers (no auth: the registry reads it)."""
        result: Manifest = request.app.state.manifest
        return result

    @router.post("/tools/{name}")
    async def call_tool(
        name: str,
        request: Request,
        caller: Caller,
        arguments: Annotated[Any, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JsonObject:
        """Run one tool for the token's tenant and customer; JSON arguments in, JSON result out."""
        tool = by_name.get(name)
        if tool is None:
            raise NotFound(f"no tool named {name!r} here", code="unknown_tool")
        scope = TenantScope(tenant=caller.tenant, customer=caller.user)
        return await run_tool(request.app.state.runtime, tool, arguments, scope=scope, key=idempotency_key)

    return router


def create_tool_app(
    *,
    settings: ToolServiceSettings,
    tools: Sequence[ToolDef],
    description: str,
    version: str = "0.1.0",
    metadata: Sequence[Any] = (),
    on_startup: Startup | None = None,
    tenant_setup: TenantSetup | None = None,
    outdated_schema: OutdatedSchemaPolicy = "error",
    database: Database | None = None,
) -> FastAPI:
    """A tool service: ``metadata`` (SQLAlchemy MetaData) is created at startup, then ``on_startup`` runs.

    Tables whose stored shape is older than their models stop the startup (``outdated_schema=
    "error"``) or, for data the service re-seeds, are recreated (``"recreate"``). ``tenant_setup``
    runs before the first call of each tenant (see :class:`ToolRuntime`).
    """
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate tool names in {names}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(
            settings.resolved_database_url(), sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        await db.create_all(KitBase.metadata, *metadata, outdated=outdated_schema)
        if on_startup is not None:
            await on_startup(db)
        app.state.database = db
        app.state.runtime = ToolRuntime(db, tenant_setup)
        add_readiness_check(app, "database", db.ping)
        try:
            async with mcp.running():
                yield
        finally:
            if database is None:
                await db.dispose()

    app = create_service_app(
        settings=settings,
        routers=[tool_router(tools)],
        lifespan=lifespan,
        version=version,
        title=f"meshline tools {settings.name}",
    )
    app.state.manifest = build_manifest(settings.name, description, version, tools)
    app.state.tools = {t.name: t for t in tools}
    mcp = mcp_endpoint(settings.name, version, description, tools, lambda: app.state.runtime)
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp))
    return app
