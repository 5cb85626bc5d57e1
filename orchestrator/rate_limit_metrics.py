"""Metrics of the public API's limits, with a bounded tenant label.

Decision: the first ``max_tenants`` tenants this process sees get their own label value and
every later one is counted as ``(other)`` (platform-admin keys as ``(platform)``; neither can
be a tenant name, whose pattern has no parentheses). A tenant id is not a secret from the
operator who scrapes ``/metrics``, the top of a mesh's tenants is what a dashboard wants, and
the series count stays at most (max_tenants + 2) x 4 limits whatever callers do. A per-tenant
view of everyone is the LLM layer's usage ledger, not a metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

OTHER = "(other)"
PLATFORM = "(platform)"


class TenantLabels:
    """The label value of a tenant: its name for the first ``max_tenants`` seen, else ``(other)``."""

    def __init__(self, max_tenants: int) -> None:
        self.max_tenants = max_tenants
        self._named: set[str] = set()

    def __call__(self, tenant: str | None) -> str:
        if tenant is None:
            return PLATFORM
        if tenant in self._named:
            return tenant
        if len(self._named) < self.max_tenants:
            self._named.add(tenant)
            return tenant
        return OTHER


class LimitMetrics:
    def __init__(self, registry: CollectorRegistry, max_tenants: int) -> None:
        self.label = TenantLabels(max_tenants)
        self.admitted = Counter(
            "meshline_api_requests_admitted",
            "Public API requests let through by the rate and concurrency limits",
            ["tenant"],
            registry=registry,
        )
        self.refused = Counter(
            "meshline_api_requests_refused",
            "Public API requests refused with 429, by the limit that refused them",
            ["tenant", "limit"],
            registry=registry,
        )
        self.turns = Gauge(
            "meshline_api_turns_in_flight",
            "Chat turns holding a concurrency slot on this replica",
            ["tenant"],
            registry=registry,
        )
        self.degraded = Gauge(
            "meshline_api_limits_local",
            "1 while this replica limits on its own because Redis cannot be reached",
            registry=registry,
        )
