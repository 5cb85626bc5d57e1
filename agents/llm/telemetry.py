"""Prometheus metrics of the LLM layer, registered on the app's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from meshline.agents.llm.versions import Registry


class LlmMetrics:
    """Calls and tokens per version, cache results, fallbacks, rollbacks and current weights."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "meshline_llm_calls_total", "Model calls by alias, version and outcome",
            ["alias", "version", "outcome"], registry=registry,
        )  # fmt: skip
        self.tokens = Counter(
            "meshline_llm_tokens_total", "Tokens by alias, version and kind (prompt, completion)",
            ["alias", "version", "kind"], registry=registry,
        )  # fmt: skip
        self.cache = Counter(
            "meshline_llm_cache_requests_total", "Response cache lookups by result (hit, miss, bypass, skip)",
            ["result"], registry=registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "meshline_llm_fallbacks_total", "Attempts that moved on to the next group, by alias and reason",
            ["alias", "reason"], registry=registry,
        )  # fmt: skip
        self.rollbacks = Counter(
            "meshline_llm_auto_rollbacks_total", "Canaries rolled back automatically",
            ["alias", "version"], registry=registry,
        )  # fmt: skip
        self.weights = Gauge(
            "meshline_llm_version_weight_percent", "Traffic weight of each version",
            ["alias", "version", "status"], registry=registry,
        )  # fmt: skip

    def show_weights(self, registry: Registry) -> None:
        self.weights.clear()
        for alias, state in registry.aliases.items():
            for version in state.versions.values():
                self.weights.labels(alias, version.version, version.status).set(version.weight)
