"""Prometheus metrics of the resilience kit: breakers, bulkheads, retries and fallbacks.

One ``ResilienceMetrics`` per service, in that service's own registry (the kit creates it as
``app.state.resilience_metrics``); every component takes it as an optional argument so that
the patterns stay usable, and testable, without Prometheus.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

BREAKER_LEVEL = {"closed": 0, "half_open": 1, "open": 2}


class ResilienceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.breaker_state = Gauge(
            "meshline_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["target"],
            registry=registry,
        )
        self.breaker_transitions = Counter(
            "meshline_breaker_transitions", "Circuit breaker state changes", ["target", "state"], registry=registry
        )
        self.breaker_rejections = Counter(
            "meshline_breaker_rejections", "Calls rejected by an open breaker", ["target"], registry=registry
        )
        self.bulkhead_in_use = Gauge(
            "meshline_bulkhead_in_use", "Calls in flight through a bulkhead", ["target"], registry=registry
        )
        self.bulkhead_rejections = Counter(
            "meshline_bulkhead_rejections", "Calls rejected by a full bulkhead", ["target"], registry=registry
        )
        self.retries = Counter(
            "meshline_retries", "Outbound calls attempted again", ["target", "reason"], registry=registry
        )
        self.retry_budget_exhausted = Counter(
            "meshline_retry_budget_exhausted",
            "Retries not made because the retry budget was spent",
            ["target"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "meshline_fallbacks", "Calls answered by a fallback", ["target", "fallback"], registry=registry
        )

    def breaker_changed(self, target: str, state: str) -> None:
        self.breaker_state.labels(target).set(BREAKER_LEVEL[state])
        self.breaker_transitions.labels(target, state).inc()
