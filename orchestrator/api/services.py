"""The registry's API: register, list and remove agent and tool services at runtime (platform admin).

Registered URLs, instance health and tool services are the platform's business; a tenant sees
only which agents a turn could be sent to (``GET /v1/agents``: names and descriptions).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from meshline.contracts import Protocol, TokenPolicy
from meshline.orchestrator.auth import Principal, require_scope
from meshline.orchestrator.dispatch import AgentCaller
from meshline.orchestrator.registry import ServiceEntry, ServiceRegistry

router = APIRouter(tags=["services"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]


class RegisterService(BaseModel):
    url: str = Field(min_length=1, max_length=2000)
    protocol: Protocol | None = Field(
        default=None, description="'meshline' or 'mcp'; omitted: the native manifest, else an MCP server at url."
    )
    name: str | None = Field(default=None, max_length=63, description="Registry name of an MCP server.")
    token_policy: TokenPolicy = Field(
        default="own",
        description="Tool services: 'own' (each call carries a token valid for this service alone) or 'none' "
        "(no token: a third-party server that needs no Meshline identity). The service's manifest has no say.",
    )


class ServiceList(BaseModel):
    services: list[ServiceEntry]


class AgentInfo(BaseModel):
    """An agent a chat turn can be routed to: what a tenant may know about it."""

    name: str
    description: str


class AgentList(BaseModel):
    agents: list[AgentInfo]


@router.post("/v1/services", response_model=ServiceEntry, status_code=201)
async def register_service(body: RegisterService, request: Request, _: Admin) -> ServiceEntry:
    """Fetch and validate the manifest at ``url``, health-check it, and add the instance."""
    registry: ServiceRegistry = request.app.state.registry
    return await registry.register(body.url, body.protocol, body.name, body.token_policy)


@router.get("/v1/agents", response_model=AgentList)
async def list_agents(request: Request, _: Annotated[Principal, Depends(require_scope("chat"))]) -> AgentList:
    """The registered agents by name and description: no URLs, no health, no tool services."""
    registry: ServiceRegistry = request.app.state.registry
    agents = await registry.list(kind="agent")
    return AgentList(agents=[AgentInfo(name=a.name, description=a.description) for a in agents])


@router.get("/v1/services", response_model=ServiceList)
async def list_services(request: Request, _: Admin) -> ServiceList:
    """Every service with its instances' health and calls in flight, and each agent's breaker and bulkhead."""
    registry: ServiceRegistry = request.app.state.registry
    caller: AgentCaller = request.app.state.caller
    entries = await registry.list()
    for entry in entries:
        if entry.kind == "agent":
            status = await caller.status(entry.name)
            entry.breaker, entry.in_flight, entry.max_concurrent = (
                status.breaker,
                status.in_flight,
                status.max_concurrent,
            )
    return ServiceList(services=entries)


@router.delete("/v1/services/{name}", status_code=204)
async def remove_service(
    name: str, request: Request, _: Admin, url: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """Remove one instance (``?url=``) or the whole service."""
    registry: ServiceRegistry = request.app.state.registry
    await registry.remove(name, url)
    return Response(status_code=204)
