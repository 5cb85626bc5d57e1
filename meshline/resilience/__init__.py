"""Resilience on every outbound hop: deadlines, timeouts, retries, breakers, bulkheads, composed
by one :class:`CallPipeline`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.resilience.address_guard import AddressGuard, AddressNotAllowed, GuardedTransport, GuardedTransport2
    from meshline.resilience.bulkhead import Bulkhead, BulkheadFull, BulkheadPolicy
    from meshline.resilience.circuit_breaker import BreakerPolicy, CircuitBreaker, LocalBreakerStore, SharedBreakerStore
    from meshline.resilience.client import STREAM_BROKEN, ServiceClient, raise_for_problem
    from meshline.resilience.clock import SYSTEM_CLOCK, Clock
    from meshline.resilience.deadlines import TurnTimeouts, time_left
    from meshline.resilience.last_known import REDIS_DOWN, LastKnown
    from meshline.resilience.metrics import ResilienceMetrics
    from meshline.resilience.pipeline import CallPipeline, CallPolicy
    from meshline.resilience.retry import RetryPolicy, retry_after_seconds
    from meshline.resilience.service_url import ServiceUrl

__all__ = [
    "AddressGuard",
    "AddressNotAllowed",
    "BreakerPolicy",
    "Bulkhead",
    "BulkheadFull",
    "BulkheadPolicy",
    "CallPipeline",
    "CallPolicy",
    "CircuitBreaker",
    "Clock",
    "GuardedTransport",
    "GuardedTransport2",
    "LastKnown",
    "LocalBreakerStore",
    "REDIS_DOWN",
    "ResilienceMetrics",
    "RetryPolicy",
    "STREAM_BROKEN",
    "SYSTEM_CLOCK",
    "ServiceClient",
    "ServiceUrl",
    "SharedBreakerStore",
    "TurnTimeouts",
    "raise_for_problem",
    "retry_after_seconds",
    "time_left",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "AddressGuard": "meshline.resilience.address_guard",
        "AddressNotAllowed": "meshline.resilience.address_guard",
        "BreakerPolicy": "meshline.resilience.circuit_breaker",
        "Bulkhead": "meshline.resilience.bulkhead",
        "BulkheadFull": "meshline.resilience.bulkhead",
        "BulkheadPolicy": "meshline.resilience.bulkhead",
        "CallPipeline": "meshline.resilience.pipeline",
        "CallPolicy": "meshline.resilience.pipeline",
        "CircuitBreaker": "meshline.resilience.circuit_breaker",
        "Clock": "meshline.resilience.clock",
        "GuardedTransport": "meshline.resilience.address_guard",
        "GuardedTransport2": "meshline.resilience.address_guard",
        "LastKnown": "meshline.resilience.last_known",
        "LocalBreakerStore": "meshline.resilience.circuit_breaker",
        "REDIS_DOWN": "meshline.resilience.last_known",
        "ResilienceMetrics": "meshline.resilience.metrics",
        "RetryPolicy": "meshline.resilience.retry",
        "STREAM_BROKEN": "meshline.resilience.client",
        "SYSTEM_CLOCK": "meshline.resilience.clock",
        "ServiceClient": "meshline.resilience.client",
        "ServiceUrl": "meshline.resilience.service_url",
        "SharedBreakerStore": "meshline.resilience.circuit_breaker",
        "TurnTimeouts": "meshline.resilience.deadlines",
        "raise_for_problem": "meshline.resilience.client",
        "retry_after_seconds": "meshline.resilience.retry",
        "time_left": "meshline.resilience.deadlines",
    },
)
