"""The orchestrator service: public API, LangGraph graph, router, registry and auth."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Histogram
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from meshline.orchestrator.api import chat, keys, knowledge_bases, openai_compat, routes_admin, services, threads
from meshline.orchestrator.api.models_admin import router as models_admin_router
from meshline.orchestrator.checkpoints import open_checkpointer
from meshline.orchestrator.dispatch import AgentCaller, DispatchPolicy
from meshline.orchestrator.graph import GraphDeps, build_graph
from meshline.orchestrator.key_store import open_api_keys
from meshline.orchestrator.memory_client import MemoryClient
from meshline.orchestrator.rate_limits import ApiLimits
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.route_index import RouteIndex
from meshline.orchestrator.router import Router, RouterConfig
from meshline.orchestrator.routing_embedder import RouteEmbedder
from meshline.orchestrator.routing_llm import LlmChooser
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.orchestrator.turns import TurnRunner
from meshline.resilience.address_guard import AddressGuard, GuardedTransport
from meshline.resilience.bulkhead import Bulkhead, BulkheadPolicy
from meshline.resilience.circuit_breaker import BreakerPolicy, CircuitBreaker, SharedBreakerStore
from meshline.resilience.client import ServiceClient
from meshline.resilience.metrics import ResilienceMetrics
from meshline.service.app import add_readiness_check, create_service_app
from meshline.service.auth import ServiceTokenIssuer
from meshline.service.background import BackgroundTasks
from meshline.service.telemetry import LATENCY_BUCKETS


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        private_key = settings.mesh.private_key_pem()
        if private_key is None:
            raise RuntimeError("no service-token signing key: set MESHLINE_TOKEN_PRIVATE_KEY (see `meshline keygen`)")
        issuer = ServiceTokenIssuer(private_key, settings.mesh.token_ttl_s)
        redis = Redis.from_url(settings.mesh.redis_url, socket_timeout=5, socket_connect_timeout=2)
        metrics = app.state.resilience_metrics
        # The limiter's own connection: short timeouts and no retries, so a Redis outage costs a request
        # at most one short wait before the limiter counts locally.
        limits_timeout = settings.limits_redis_timeout_s
        limits_redis = Redis.from_url(
            settings.mesh.redis_url,
            socket_timeout=limits_timeout,
            socket_connect_timeout=limits_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        app.state.rate_limits = rate_limits = ApiLimits(limits_redis, settings, app.state.metrics_registry)
        client = ServiceClient.for_app(app)
        router = build_router(settings, redis, client)
        guard = AddressGuard(settings.registry_allow_networks)
        registry = ServiceRegistry(redis, router.index, guard=guard)
        background = BackgroundTasks()
        # Agents are at registered URLs: every new connection to one is checked like the registry's own.
        agents_client = ServiceClient.for_app(app, transport=GuardedTransport(guard, keepalive=True))
        caller = build_caller(settings, agents_client, registry, issuer, metrics)
        async with open_checkpointer(settings) as checkpointer:
            deps = GraphDeps(
                registry=registry,
                router=router,
                caller=caller,
                memory=MemoryClient(client, settings.mesh.memory_url),
                issuer=issuer,
                history_messages=settings.history_messages,
                recall_k=settings.recall_k,
                node_seconds=Histogram(
                    "meshline_graph_node_duration_seconds",
                    "Time spent in each node of the turn graph",
                    ["node"],
                    buckets=LATENCY_BUCKETS,
                    registry=app.state.metrics_registry,
                ),
                background=background,
            )
            graph = build_graph(deps, checkpointer)
            app.state.registry = registry
            app.state.router = router
            app.state.issuer = issuer
            app.state.caller = caller
            app.state.client = client  # the one outbound client, for the proxies (admin, knowledge)
            add_readiness_check(
                app, "checkpoints", lambda: checkpointer.aget_tuple({"configurable": {"thread_id": "readyz"}})
            )
            add_readiness_check(app, "router", router.embedder.ready)
            app.state.kb_proxy = knowledge_bases.KnowledgeBaseProxy(client, issuer, settings.mesh.memory_url)
            app.state.api_keys = api_keys = await open_api_keys(settings, redis)
            add_readiness_check(app, "api_keys", api_keys.ping)
            app.state.turns = TurnRunner(
                graph,
                registry,
                redis,
                settings.turn_timeout_s,
                min_timeout_s=settings.min_turn_timeout_s,
                max_timeout_s=settings.max_turn_timeout_s,
            )
            add_readiness_check(app, "redis", redis.ping)
            stop = asyncio.Event()
            health = asyncio.create_task(registry.run_health_checks(settings.health_interval_s, stop))
            rate_limits.start()  # lease renewals, stopped in the finally below
            try:
                yield
            finally:
                stop.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(health), timeout=5)
                await background.drain()
                await api_keys.aclose()
                await router.embedder.close()
                await registry.aclose()
                await client.aclose()
                await agents_client.aclose()
                await rate_limits.aclose()
                await limits_redis.aclose()
                await redis.aclose()

    return create_service_app(
        settings=settings,
        routers=[
            chat.router,
            openai_compat.router,
            threads.router,
            services.router,
            keys.router,
            knowledge_bases.router,
            routes_admin.router,
            models_admin_router,
        ],
        lifespan=lifespan,
    )


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


def build_router(settings: OrchestratorSettings, redis: Redis, client: ServiceClient) -> Router:
    """The semantic router; its embedder starts loading now, in the background."""
    embedder = RouteEmbedder(settings.route_embedding_model)
    embedder.start()
    index = RouteIndex(redis, embedder.embed, settings.route_embedding_model, settings.route_max_fitted_per_agent)
    config = RouterConfig.from_settings(settings)
    llm = (
        LlmChooser(client, settings.mesh.llm_url, settings.route_llm_model, settings.route_llm_timeout_s)
        if settings.route_use_llm
        else None
    )
    return Router(index, embedder, config, llm)
