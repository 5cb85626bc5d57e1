"""The orchestrator service: public API, LangGraph graph, router, registry and auth."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from langgraph.graph.state import CompiledStateGraph
from prometheus_client import Histogram
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from meshline.orchestrator.api import chat, keys, knowledge_bases, openai_compat, routing, services, threads
from meshline.orchestrator.api.models_admin import router as models_admin_router
from meshline.orchestrator.checkpoints import open_checkpointer
from meshline.orchestrator.dispatch import AgentCaller, DispatchPolicy
from meshline.orchestrator.graph import GraphDeps, build_graph
from meshline.orchestrator.key_store import open_api_keys
from meshline.orchestrator.memory_client import MemoryClient
from meshline.orchestrator.rate_limits import ApiLimits
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.routing import build_router
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.orchestrator.turns import TurnRunner
from meshline.resilience import (
    AddressGuard,
    BreakerPolicy,
    Bulkhead,
    BulkheadPolicy,
    CircuitBreaker,
    GuardedTransport,
    ResilienceMetrics,
    ServiceClient,
    SharedBreakerStore,
)
from meshline.service import (
    LATENCY_BUCKETS,
    BackgroundTasks,
    ServiceTokenIssuer,
    add_readiness_check,
    create_service_app,
)


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Whatever started is closed in reverse, also when a later step of the start fails.
        async with contextlib.AsyncExitStack() as stack:
            await start_orchestrator(app, settings, stack)
            yield

    return create_service_app(
        settings=settings,
        routers=[
            chat.router,
            openai_compat.router,
            threads.router,
            services.router,
            keys.router,
            knowledge_bases.router,
            routing.router,
            models_admin_router,
        ],
        lifespan=lifespan,
    )


async def start_orchestrator(app: FastAPI, settings: OrchestratorSettings, stack: contextlib.AsyncExitStack) -> None:
    """Connect, build the turn graph and start the background loops; ``stack`` closes them all."""
    private_key = settings.mesh.private_key_pem()
    if private_key is None:
        raise RuntimeError("no service-token signing key: set MESHLINE_TOKEN_PRIVATE_KEY (see `meshline keygen`)")
    issuer = ServiceTokenIssuer(private_key, settings.mesh.token_ttl_s)
    redis = Redis.from_url(settings.mesh.redis_url, socket_timeout=5, socket_connect_timeout=2)
    stack.push_async_callback(redis.aclose)
    app.state.rate_limits = rate_limits = await open_rate_limits(app, settings, stack)
    client = ServiceClient.for_app(app)
    router = build_router(settings, redis, client)
    guard = AddressGuard(settings.registry_allow_networks, resolve_timeout_s=settings.registry_resolve_timeout_s)
    registry = ServiceRegistry(
        redis,
        router.index,
        guard=guard,
        probe_timeout_s=settings.registry_probe_timeout_s,
        mcp_list_timeout_s=settings.mcp_list_timeout_s,
        mcp_probe_timeout_s=settings.mcp_probe_timeout_s,
    )
    # Agents are at registered URLs: every new connection to one is checked like the registry's own.
    agents_client = ServiceClient.for_app(app, transport=GuardedTransport(guard, keepalive=True))
    for close in (agents_client.aclose, client.aclose, registry.aclose, router.embedder.close):
        stack.push_async_callback(close)
    caller = build_caller(settings, agents_client, registry, issuer, app.state.resilience_metrics)
    checkpointer = await stack.enter_async_context(open_checkpointer(settings))
    app.state.registry, app.state.router, app.state.issuer, app.state.caller = registry, router, issuer, caller
    app.state.client = client  # the one outbound client, for the proxies (admin, knowledge)
    add_readiness_check(app, "checkpoints", lambda: checkpointer.aget_tuple({"configurable": {"thread_id": "readyz"}}))
    add_readiness_check(app, "router", router.embedder.ready)
    app.state.kb_proxy = knowledge_bases.KnowledgeBaseProxy(
        client, issuer, settings.mesh.memory_url, timeout_s=settings.knowledge_timeout_s
    )
    app.state.api_keys = api_keys = await open_api_keys(settings, redis)
    stack.push_async_callback(api_keys.aclose)
    add_readiness_check(app, "api_keys", api_keys.ping)
    background = BackgroundTasks()
    stack.push_async_callback(background.drain)  # the turns' memory writes finish before the clients close
    deps = GraphDeps(
        registry=registry,
        router=router,
        caller=caller,
        memory=MemoryClient(
            client,
            settings.mesh.memory_url,
            recall_timeout_s=settings.memory_recall_timeout_s,
            remember_timeout_s=settings.memory_remember_timeout_s,
        ),
        issuer=issuer,
        history_messages=settings.history_messages,
        recall_k=settings.recall_k,
        node_seconds=node_histogram(app),
        background=background,
    )
    app.state.turns = build_turns(settings, build_graph(deps, checkpointer), registry, redis)
    add_readiness_check(app, "redis", redis.ping)
    await stack.enter_async_context(health_checks(registry, settings.health_interval_s))
    rate_limits.start()  # lease renewals, stopped by its aclose


async def open_rate_limits(app: FastAPI, settings: OrchestratorSettings, stack: contextlib.AsyncExitStack) -> ApiLimits:
    """The API limits on a Redis connection of their own: short timeouts and no retries, so a Redis
    outage costs a request at most one short wait before the limiter counts locally."""
    timeout = settings.limits_redis_timeout_s
    limits_redis = Redis.from_url(
        settings.mesh.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    stack.push_async_callback(limits_redis.aclose)
    limits = ApiLimits(limits_redis, settings, app.state.metrics_registry)
    stack.push_async_callback(limits.aclose)
    return limits


def build_turns(
    settings: OrchestratorSettings,
    graph: CompiledStateGraph[Any, Any, Any, Any],
    registry: ServiceRegistry,
    redis: Redis,
) -> TurnRunner:
    """The turn runner around ``graph``, with the configured turn deadlines."""
    return TurnRunner(
        graph,
        registry,
        redis,
        settings.turn_timeout_s,
        min_timeout_s=settings.min_turn_timeout_s,
        max_timeout_s=settings.max_turn_timeout_s,
    )


def node_histogram(app: FastAPI) -> Histogram:
    return Histogram(
        "meshline_graph_node_duration_seconds",
        "Time spent in each node of the turn graph",
        ["node"],
        buckets=LATENCY_BUCKETS,
        registry=app.state.metrics_registry,
    )


@asynccontextmanager
async def health_checks(registry: ServiceRegistry, interval_s: float) -> AsyncIterator[None]:
    """The registry's health probes, stopped by an event (and waited for, up to 5 s) at shutdown."""
    stop = asyncio.Event()
    health = asyncio.create_task(registry.run_health_checks(interval_s, stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(health), timeout=5)


def build_caller(
    settings: OrchestratorSettings,
    client: ServiceClient,
    registry: ServiceRegistry,
    issuer: ServiceTokenIssuer,
    metrics: ResilienceMetrics,
) -> AgentCaller:
    """Dispatch with its breaker, bulkhead and fallbacks as configured."""
    policy = BreakerPolicy(
        window_s=settings.breaker_window_s,
        min_calls=settings.breaker_min_calls,
        failure_rate=settings.breaker_failure_rate,
        cooldown_s=settings.breaker_cooldown_s,
        half_open_probes=settings.breaker_half_open_probes,
    )
    return AgentCaller(
        client,
        registry,
        issuer,
        breaker=CircuitBreaker(SharedBreakerStore(registry.redis), policy, metrics),
        bulkhead=Bulkhead(
            BulkheadPolicy(
                settings.bulkhead_max_concurrent, settings.bulkhead_max_wait_s, settings.bulkhead_tenant_share
            ),
            metrics,
        ),
        policy=DispatchPolicy(
            settings.fallback_agents, reserve_s=settings.dispatch_reserve_s, timeouts=settings.agent_timeouts_s
        ),
        metrics=metrics,
        pending_ttl_s=settings.pending_ttl_s,
    )
