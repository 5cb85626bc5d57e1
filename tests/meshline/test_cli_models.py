"""``meshline models`` and ``meshline usage`` render the LLM layer's typed answers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from meshline.cli.models_cmd import models_table, usage_table
from meshline.contracts.llm_admin import RegistryListing, UsageReport

EVENT = {"at": 1.0, "who": "ops/admin", "action": "deploy", "alias": "default", "revision": 7, "canary": 10}
LISTING = {
    "revision": 7,
    "aliases": [
        {
            "alias": "default",
            "stable": "v1",
            "previous": [],
            "fallbacks": ["fast"],
            "versions": [
                {
                    "version": "v2",
                    "status": "canary",
                    "weight": 10,
                    "deployments": [{"model": "openai/gpt-4o-mini", "api_base": None, "params": {}}],
                    "system_prompt": False,
                    "note": None,
                    "cooling_down_s": 3.0,
                    "health": {
                        "last_minute": {"requests": 12, "error_rate": 0.25, "mean_latency_ms": 340.0},
                        "this_replica": {"requests": 4, "error_rate": 0.0},
                    },
                }
            ],
            "events": [EVENT],
        }
    ],
}
COUNTS = {"requests": 3, "prompt_tokens": 30, "completion_tokens": 12, "cost_nano_usd": 4200, "cache_hits": 1}
DERIVED = {**COUNTS, "total_tokens": 42, "cost_usd": 4.2e-6}
USAGE = {
    "tenant": "acme",
    "rows": [{"agent": "general", "alias": "default", "version": "v1", **DERIVED}],
    "total": DERIVED,
}


def rendered(table: Table) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_the_models_table_shows_each_version_with_its_health() -> None:
    listing = RegistryListing.model_validate(LISTING)
    assert listing.aliases[0].events[0].model_dump()["canary"] == 10  # a change's details ride along
    text = rendered(models_table(listing))
    assert "registry revision 7" in text
    for cell in ("default", "v2", "canary", "10%", "openai/gpt-4o-mini", "12", "25%", "340 ms", "cooling down"):
        assert cell in text


def test_the_usage_table_ends_with_the_totals() -> None:
    text = rendered(usage_table(UsageReport.model_validate(USAGE)))
    assert "usage of tenant acme" in text
    assert "general" in text and "total" in text and "0.000004" in text
