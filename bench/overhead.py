"""What the mesh adds to a chat turn: the whole mesh vs. the same load sent straight to the provider.

The provider is the fake OpenAI-compatible server with a fixed 50 ms latency; the mesh is every
real service process (orchestrator, general agent, LLM layer, memory with real embeddings,
Redis). Each concurrency level sends a bounded number of requests under a time cap.

    .venv/bin/python bench/overhead.py [--quick]

Prints a table and writes bench/results/overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from meshline.testing import run_test_mesh

PROVIDER_LATENCY_MS = 50.0
LEVELS = {"c1": (1, 40), "c16": (16, 320), "c64": (64, 640)}
TIME_CAP_S = 120.0
RESULTS = Path(__file__).parent / "results" / "overhead.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def load(call: Callable[[int], Awaitable[None]], concurrency: int, total: int) -> dict[str, float]:
    """Run ``total`` calls at ``concurrency``; latencies of successful calls, errors counted."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    stop_at = time.monotonic() + TIME_CAP_S

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            if time.monotonic() > stop_at:
                return
            start = time.perf_counter()
            try:
                await call(i)
                latencies.append((time.perf_counter() - start) * 1000)
            except (httpx.HTTPError, AssertionError):
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 99) if latencies else float("nan"),
        "rps": len(latencies) / elapsed,
        "ok": len(latencies),
        "errors": errors,
    }


async def measure(mesh_url: str, api_key: str, provider_url: str, quick: bool) -> dict[str, dict[str, Any]]:
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    results: dict[str, dict[str, Any]] = {}
    route_methods: dict[str, int] = {}  # a turn the router sends to the LLM stage costs a second model call
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def via_mesh(i: int) -> None:
            response = await http.post(
                f"{mesh_url}/v1/chat",
                json={"message": f"Hello! How are you doing today? (turn {i})"},
                headers={"authorization": f"Bearer {api_key}"},
            )
            assert response.status_code == 200, response.text
            method = response.json()["route"]["method"]
            route_methods[method] = route_methods.get(method, 0) + 1

        async def direct(i: int) -> None:
            body = {
                "model": "fake-model",
                "messages": [
                    {"role": "system", "content": "You are the customer support assistant of an online shop."},
                    {"role": "user", "content": f"Hello! How are you doing today? (turn {i})"},
                ],
            }
            response = await http.post(f"{provider_url}/chat/completions", json=body)
            assert response.status_code == 200, response.text

        await load(via_mesh, 4, 8)  # warm-up: connections, model caches
        route_methods.clear()
        for level, (concurrency, total) in LEVELS.items():
            total = max(concurrency, total // 4) if quick else total
            mesh = await load(via_mesh, concurrency, total)
            straight = await load(direct, concurrency, total)
            results[level] = {
                "mesh_p50_ms": round(mesh["p50_ms"], 1),
                "mesh_p99_ms": round(mesh["p99_ms"], 1),
                "direct_p50_ms": round(straight["p50_ms"], 1),
                "direct_p99_ms": round(straight["p99_ms"], 1),
                "overhead_p50_ms": round(mesh["p50_ms"] - straight["p50_ms"], 1),
                "overhead_p99_ms": round(mesh["p99_ms"] - straight["p99_ms"], 1),
                "mesh_rps": round(mesh["rps"], 1),
                "direct_rps": round(straight["rps"], 1),
                "requests": total,
                "mesh_errors": mesh["errors"],
                "direct_errors": straight["errors"],
                "route_methods": dict(route_methods),
            }
            route_methods.clear()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_test_mesh(Path(tmp) / ".meshline", PROVIDER_LATENCY_MS) as mesh:
        results = asyncio.run(measure(mesh.url, mesh.api_key, mesh.fake_llm_url, args.quick))
    header = f"{'level':<5} {'mesh p50':>9} {'mesh p99':>9} {'direct p50':>11} {'direct p99':>11} {'+p50':>7} {'+p99':>7} {'mesh rps':>9} {'direct rps':>11}"  # noqa: E501
    print(header)  # noqa: T201
    for level, r in results.items():
        print(  # noqa: T201
            f"{level:<5} {r['mesh_p50_ms']:>9} {r['mesh_p99_ms']:>9} {r['direct_p50_ms']:>11} {r['direct_p99_ms']:>11} "
            f"{r['overhead_p50_ms']:>7} {r['overhead_p99_ms']:>7} {r['mesh_rps']:>9} {r['direct_rps']:>11}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {RESULTS}")  # noqa: T201


if __name__ == "__main__":
    main()
