"""Prometheus metrics of ingestion: refusals at enqueue and the parse sandbox's outcomes.

Labels are closed sets (the refusal's code, the outcome's kind); no tenant label: a refused
tenant is told in its own 429, and tenant ids as labels would grow without bound.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter

ParseOutcome = Literal["ok", "rejected", "cpu_limit", "memory_limit", "wall_clock", "died", "bad_reply"]


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "meshline_ingest_refused",
            "Ingestion requests refused at enqueue, by the error code naming the limit",
            ["code"],
            registry=registry,
        )
        self.parsed = Counter(
            "meshline_parse_documents",
            "Documents through the parse sandbox, by outcome (ok, rejected by the parser, or a limit)",
            ["outcome"],
            registry=registry,
        )

    def parse_outcome(self, outcome: ParseOutcome) -> None:
        self.parsed.labels(outcome=outcome).inc()
