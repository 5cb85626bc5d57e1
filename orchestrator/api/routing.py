"""Routing admin API: try the router on a message, teach it labelled examples, reset it (admin).

What ``meshline routes eval|fit|reset`` call against a running mesh.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from meshline.contracts import RouteDecision
from meshline.errors import BadRequest
from meshline.orchestrator.auth import Principal, require_scope
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.routing import Router
from meshline.service import LLM_CALL, ServiceTokenIssuer

router = APIRouter(prefix="/v1/routes", tags=["routing"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]
MAX_EXAMPLE_CHARS = 1000


class DecideRequest(BaseModel):
    message: str = Field(min_length=1, max_length=16_000)
    use_llm: bool = Field(default=True, description="False: the examples stage alone, never the LLM.")
    previous: str | None = Field(default=None, description="The thread's previous agent, for stickiness.")


class DecideResponse(BaseModel):
    route: RouteDecision
    parts: dict[str, str]
    examples_agent: str | None
    examples_confidence: float
    llm_called: bool
    llm_error: str | None
    latency_ms: float
    threshold: float = Field(description="Confidence at or above which the examples decide without the LLM.")


class FitRequest(BaseModel):
    examples: dict[str, list[Annotated[str, Field(min_length=1, max_length=MAX_EXAMPLE_CHARS)]]] = Field(
        description="agent -> labelled messages"
    )


class FitResponse(BaseModel):
    added: dict[str, int]
    examples: dict[str, int]  # agent -> examples now indexed


def _router(request: Request) -> Router:
    routing: Router = request.app.state.router
    return routing


async def _agents(request: Request) -> list[str]:
    registry: ServiceRegistry = request.app.state.registry
    manifests = [e.manifest for e in await registry.list(kind="agent")]
    await _router(request).index.sync(manifests)
    return [m.name for m in manifests]


@router.post("/decide", response_model=DecideResponse)
async def decide(body: DecideRequest, request: Request, principal: Admin) -> DecideResponse:
    """Route one message as a chat turn would (nothing is dispatched), with the time it took."""
    registry: ServiceRegistry = request.app.state.registry
    issuer: ServiceTokenIssuer = request.app.state.issuer
    token = issuer.issue(
        tenant=principal.tenant, user=acting_user(principal, None).user, scopes=[LLM_CALL], audience="llm"
    )
    plan = await _router(request).decide(
        body.message,
        [e.manifest for e in await registry.list(kind="agent")],
        previous=body.previous,
        token=token,
        use_llm=body.use_llm,
    )
    return DecideResponse(
        route=plan.decision,
        parts=plan.parts,
        examples_agent=plan.examples_agent,
        examples_confidence=round(plan.examples_confidence, 4),
        llm_called=plan.llm_called,
        llm_error=plan.llm_error,
        latency_ms=round(plan.latency_ms, 3),
        threshold=_router(request).config.threshold,
    )


@router.get("/examples", response_model=FitResponse)
async def examples(request: Request, _: Admin) -> FitResponse:
    """How many examples each registered agent has in the index."""
    names = await _agents(request)
    index = _router(request).index
    return FitResponse(added={}, examples={n: index.size(n) for n in names})


@router.post("/examples", response_model=FitResponse)
async def fit(body: FitRequest, request: Request, _: Admin) -> FitResponse:
    """Add labelled examples (deduplicated, capped per agent); every agent must be registered."""
    names = await _agents(request)
    unknown = sorted(set(body.examples) - set(names))
    if unknown:
        raise BadRequest(f"not registered agents: {', '.join(unknown)}", code="unknown_agent")
    index = _router(request).index
    added = await index.fit(body.examples)
    return FitResponse(added=added, examples={n: index.size(n) for n in names})


@router.delete("/examples", status_code=204)
async def reset(request: Request, _: Admin) -> Response:
    """Forget every fitted example: back to the agents' own (profile) examples."""
    await _router(request).index.reset()
    return Response(status_code=204)
