"""Failover under steady load: a replica lost, an agent down, and its recovery (issue 6, scenarios a-c).

The mesh is real processes (orchestrator, general, two commerce replicas, account, LLM layer,
memory, Redis) with the fake provider standing in for the model; the scenarios are the chaos
suite's (meshline.testing.chaos), run here with more traffic and their figures kept.

    .venv/bin/python bench/failover.py [--quick]

Prints the figures and writes bench/results/failover.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from meshline.testing import chaos, chaos_mesh

RESULTS = Path(__file__).parent / "results" / "failover.json"


async def measure(mesh: Any, quick: bool) -> dict[str, Any]:
    scale = 1 if quick else 2
    return {
        "replica_loss": await chaos.replica_loss(mesh, requests=300 * scale, concurrency=16),
        "agent_down": await chaos.agent_down(mesh, requests=60 * scale, concurrency=4),
        "recovery": await chaos.recovery(mesh),
    }


def say(line: str) -> None:
    print(line)  # noqa: T201 - a benchmark reports on stdout


def report(results: dict[str, Any]) -> None:
    a, b, c = results["replica_loss"], results["agent_down"], results["recovery"]
    say(f"replica_loss: {a['requests']} chats at c{a['concurrency']}, {a['errors']} errors")
    for phase in ("before", "during", "after"):
        say(f"  {phase:7} p50 {a[phase]['p50_ms']:8.1f} ms   p99 {a[phase]['p99_ms']:8.1f} ms")
    say(
        f"agent_down: {b['requests']} chats, {b['errors']} errors, {b['fallbacks']} answered by the fallback; "
        f"breaker open {b['open_after_s']} s after the kill ({b['calls_before_open']} calls)"
    )
    say(f"  fallback replies p50 {b['fallback']['p50_ms']} ms, p99 {b['fallback']['p99_ms']} ms")
    say(f"  other agent p50 {b['other_before']['p50_ms']} ms before, {b['other_during']['p50_ms']} ms during")
    say(
        f"recovery: replicas ready {c['restart_s']} s after the restart began; traffic back "
        f"{c['recovered_after_s']} s after that (bound {c['bound_s']} s), "
        f"breaker {c['breaker_after']}, {c['errors_after']} errors after; p50 {c['after']['p50_ms']} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the chaos suite's traffic instead of twice that")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, chaos_mesh.run_chaos_mesh(Path(tmp) / ".meshline") as mesh:
        results = asyncio.run(measure(mesh, args.quick))
    report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    say(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
