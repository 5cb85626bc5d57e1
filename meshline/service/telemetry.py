"""Prometheus metrics per service: request count, errors and a latency histogram per route."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# The method label is closed: any other method string a client sends would otherwise become a new
# time series for as long as the process lives.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class HttpMetrics:
    """The HTTP metrics of one service, in that service's own registry (no global state)."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        labels = ["service", "method", "route", "status"]
        self.service = service
        self.requests = Counter("meshline_http_requests", "HTTP requests served", labels, registry=registry)
        self.errors = Counter("meshline_http_errors", "HTTP responses with status >= 500", labels, registry=registry)
        self.latency = Histogram(
            "meshline_http_request_duration_seconds",
            "Time to the end of the response",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER_METHOD
        self.requests.labels(self.service, method, route, str(status)).inc()
        if status >= 500:
            self.errors.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming responses are not buffered."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - start)
