"""``create_service_app``: the FastAPI factory every Meshline service is built with.

It wires problem+json errors, request context, body limits, Prometheus metrics, ``/healthz``,
``/readyz`` (ready only when every registered dependency check passes) and service-token
verification, around a service-specific lifespan and routers. The surface beyond the API is
one decision made here for every service: ``/metrics`` wants ``MESHLINE_METRICS_TOKEN`` when it
is set, and ``/docs``, ``/redoc`` and ``/openapi.json`` exist only with ``MESHLINE_DOCS``.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from meshline.errors import Unauthorized
from meshline.resilience import ResilienceMetrics
from meshline.service.auth import ServiceTokenVerifier, bearer_token
from meshline.service.context import ContextMiddleware
from meshline.service.deadline import DeadlineMiddleware
from meshline.service.limits import BodySizeLimitMiddleware
from meshline.service.problems import CrashMiddleware, install_problem_handlers
from meshline.service.settings import ServiceSettings
from meshline.service.telemetry import HttpMetrics, MetricsMiddleware

ReadinessCheck = Callable[[], Awaitable[Any]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
log = logging.getLogger(__name__)


async def _run_check(check: ReadinessCheck, timeout_s: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout=timeout_s)
    except Exception as exc:  # a failing dependency is a readiness answer, not a crash
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def add_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    """Register a dependency that must answer for ``/readyz`` to report ready."""
    app.state.readiness[name] = check


def freeze_startup_heap(app: FastAPI) -> None:
    """In a service process, move everything alive after startup out of the collector's sight.

    Startup leaves hundreds of thousands of long-lived objects (litellm, langgraph, torch); a
    full collection walks them all, ~0.3 s on 2 busy cores, stalling every request in flight
    (it was the LLM layer's p99 at concurrency 16). Frozen objects are still freed by reference
    counting, only never scanned. Only processes started by ``run_service`` do it: tests build
    many apps in one process, and frozen cyclic garbage would never be collected there.
    """
    if getattr(app.state, "freeze_heap", False):
        gc.collect()
        gc.freeze()


def check_metrics_token(request: Request, expected: str | None) -> None:
    """Refuse a scrape without the configured token (401 problem+json); no token configured: open."""
    if expected is None:
        return
    if not hmac.compare_digest(bearer_token(request).encode(), expected.encode()):
        raise Unauthorized("wrong metrics token", code="invalid_token")


def create_service_app(
    *,
    settings: ServiceSettings,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
    title: str | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def kit_lifespan(app: FastAPI) -> AsyncIterator[None]:
        public_keys = settings.mesh.public_key_pems()
        if metrics_token is None and settings.host not in LOOPBACK_HOSTS:
            log.warning("%s serves /metrics to anyone on %s: set MESHLINE_METRICS_TOKEN", settings.name, settings.host)
        app.state.token_verifier = (
            ServiceTokenVerifier(public_keys, settings.name, leeway_s=settings.mesh.token_leeway_s)
            if public_keys
            else None
        )
        if lifespan is None:
            freeze_startup_heap(app)
            yield
        else:
            async with lifespan(app):
                freeze_startup_heap(app)
                yield

    docs = settings.mesh.docs
    metrics_token = settings.mesh.metrics_token.get_secret_value() if settings.mesh.metrics_token else None
    app = FastAPI(
        title=title or f"meshline {settings.name}",
        version=version,
        lifespan=kit_lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.readiness = {}
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    app.state.resilience_metrics = ResilienceMetrics(registry)
    install_problem_handlers(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks: dict[str, ReadinessCheck] = app.state.readiness
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[n], settings.readiness_timeout_s) for n in names))
        status = dict(zip(names, results, strict=True))
        ready = all(r == "ok" for r in results)
        body = {"status": "ready" if ready else "not_ready", "service": settings.name, "checks": status}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics(request: Request) -> Response:
        check_metrics_token(request, metrics_token)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    # Added last = outermost: the context exists before anything else runs.
    app.add_middleware(DeadlineMiddleware)  # innermost: its 504 is counted by the metrics
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.mesh.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry, settings.name))
    app.add_middleware(ContextMiddleware)
    app.add_middleware(CrashMiddleware)  # outermost: a crash answers 500 and keeps the connection
    return app
