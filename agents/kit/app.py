"""``create_agent_app``: an agent service from a handler.

``GET /v1/manifest`` says what the agent is (no auth: the registry and the router read it);
``POST /v1/invoke`` (scope ``agent:invoke``) runs the handler on an :class:`AgentTask` and
answers with its :class:`AgentResult`, or with ``Accept: text/event-stream`` streams its
``delta``/``tool`` events and then the ``result`` (see :mod:`meshline.agents.kit.stream`).
At startup the kit makes the process's clients (:class:`AgentClients`): the LLM layer and the
knowledge-base search, both through one breaker, and ``/readyz`` waits for the LLM layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse

from meshline import __version__
from meshline.agents.kit.context import AgentClients, AgentContext, Handler, run_to_result
from meshline.agents.kit.knowledge import KnowledgeClient
from meshline.agents.kit.llm import LLMLayer
from meshline.agents.kit.settings import AgentSettings
from meshline.agents.kit.stream import PROBLEM_RESPONSES, stream_response
from meshline.contracts import AgentResult, AgentTask, Manifest
from meshline.resilience import CallPipeline, CallPolicy, CircuitBreaker, LocalBreakerStore, ServiceClient
from meshline.service import AGENT_INVOKE, add_readiness_check, create_service_app, require_identity
from meshline.sse import SSE_MEDIA_TYPE

# Builds what a handler needs beyond the kit's clients (a tool catalog, say), closes it at shutdown.
Setup = Callable[[AgentClients], AbstractAsyncContextManager[Handler]]


def agent_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["agent"])

    @router.get("/manifest", response_model=Manifest)
    async def manifest(request: Request) -> Manifest:
        """What this agent is, for the registry and the router (no auth)."""
        result: Manifest = request.app.state.manifest
        return result

    @router.post(
        "/invoke",
        response_model=None,
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(require_identity(AGENT_INVOKE))],
    )
    async def invoke(task: AgentTask, request: Request) -> AgentResult | StreamingResponse:
        """Run one task. ``Accept: text/event-stream`` streams ``delta`` events, then one ``result``."""
        handler: Handler = request.app.state.handler
        clients: AgentClients = request.app.state.agent_clients
        stream = SSE_MEDIA_TYPE in request.headers.get("accept", "")
        events = handler(task, AgentContext(task=task, clients=clients, stream=stream))
        if not stream:
            return await run_to_result(events)
        return await stream_response(events, request.url.path)

    return router


def make_clients(app: FastAPI, settings: AgentSettings, http: ServiceClient) -> AgentClients:
    """The process's clients. One breaker per process for every target the agent calls."""
    breaker = CircuitBreaker(LocalBreakerStore(), metrics=app.state.resilience_metrics)
    pipeline = CallPipeline(http, CallPolicy(breaker=breaker))
    return AgentClients(
        app=app,
        settings=settings,
        http=http,
        breaker=breaker,
        pipeline=pipeline,
        llm=LLMLayer(
            pipeline,
            settings.mesh.llm_url,
            timeout_s=settings.llm_timeout_s,
            health_timeout_s=settings.llm_health_timeout_s,
        ),
        knowledge=KnowledgeClient(pipeline, settings.mesh.memory_url, settings.search_timeout_s),
    )


@asynccontextmanager
async def _only(handler: Handler | None) -> AsyncIterator[Handler]:
    assert handler is not None  # create_agent_app checked: a handler, or a setup that makes one
    yield handler


def create_agent_app(
    *,
    settings: AgentSettings,
    manifest: Manifest,
    handler: Handler | None = None,
    setup: Setup | None = None,
    title: str | None = None,
) -> FastAPI:
    """An agent service answering with ``handler`` (or with the handler ``setup`` yields at startup)."""
    if (handler is None) == (setup is None):
        raise ValueError("give an agent either a handler or a setup")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = ServiceClient.for_app(app, settings.llm_timeout_s)
        clients = make_clients(app, settings, http)
        app.state.agent_clients = clients
        add_readiness_check(app, "llm", clients.llm.health)
        try:
            async with setup(clients) if setup is not None else _only(handler) as ready:
                app.state.handler = ready
                yield
        finally:
            await http.aclose()

    app = create_service_app(
        settings=settings,
        routers=[agent_router()],
        lifespan=lifespan,
        version=__version__,
        title=title or f"meshline agent {settings.name}",
    )
    app.state.manifest = manifest
    return app
