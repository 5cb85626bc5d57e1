"""Latency the LLM layer adds over a direct call to the provider (a fake with a fixed 50 ms latency).

Non-streamed latency and streamed time to first token, at concurrency 1, 16 and 64; the LLM
layer runs as its own process with Redis, token verification, the registry, quotas and the
ledger switched on. The anchor the issue names, the LiteLLM proxy (``litellm[proxy]``), is
measured in the same run when it can start here; otherwise its entry says why not.

    .venv/bin/python bench/llm_layer.py [--quick]

Prints a table and writes bench/results/llm_layer.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from meshline.service.auth import ServiceTokenIssuer, generate_keypair
from meshline.sse import aiter_sse
from meshline.testing.fake_openai import start_fake_openai
from meshline.testing.redis_process import free_port, start_redis, wait_for_port

sys.path.insert(0, str(Path(__file__).parent))
from overhead import percentile  # noqa: E402

LEVELS = {"c1": (1, 60), "c16": (16, 480), "c64": (64, 960)}
RESULTS = Path(__file__).parent / "results" / "llm_layer.json"
BODY = {"model": "default", "messages": [{"role": "user", "content": "hello there, a benchmark question"}]}


async def timed(call: Callable[[], Awaitable[float]], concurrency: int, total: int) -> tuple[list[float], float]:
    """Latencies (ms) of ``total`` calls at ``concurrency``, and the achieved requests per second."""
    results: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for _ in counter:
            results.append(await call())

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, len(results) / (time.perf_counter() - began)


async def measure(base: str, headers: dict[str, str], model: str, quick: bool) -> dict[str, list[float] | float]:
    out: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:

        async def whole() -> float:
            start = time.perf_counter()
            response = await http.post(f"{base}/chat/completions", json={**BODY, "model": model})
            assert response.status_code == 200, response.text
            return (time.perf_counter() - start) * 1000

        async def first_token() -> float:
            start = time.perf_counter()
            body = {**BODY, "model": model, "stream": True}
            async with http.stream("POST", f"{base}/chat/completions", json=body) as response:
                assert response.status_code == 200
                ttft = 0.0
                async for _event in aiter_sse(response):
                    if not ttft:
                        ttft = (time.perf_counter() - start) * 1000
            return ttft

        await timed(whole, 4, 16)  # warm-up
        for level, (concurrency, total) in LEVELS.items():
            total = max(concurrency, total // 4) if quick else total
            out[f"{level}_whole"], out[f"{level}_rps"] = await timed(whole, concurrency, total)
            out[f"{level}_ttft"], _ = await timed(first_token, concurrency, total)
    return out


def added(layer: dict[str, Any], direct: dict[str, Any]) -> dict[str, dict[str, float]]:
    result = {}
    for level in LEVELS:
        result[level] = {
            "added_p50_ms": round(
                statistics.median(layer[f"{level}_whole"]) - statistics.median(direct[f"{level}_whole"]), 1
            ),
            "added_p99_ms": round(
                percentile(layer[f"{level}_whole"], 99) - percentile(direct[f"{level}_whole"], 99), 1
            ),
            "ttft_added_p50_ms": round(
                statistics.median(layer[f"{level}_ttft"]) - statistics.median(direct[f"{level}_ttft"]), 1
            ),
            "rps": round(layer[f"{level}_rps"], 1),
        }
    return result


def start_llm_layer(tmp: Path, provider: str, redis_url: str, public_key: str) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp / "meshline.yaml"
    config.write_text(
        yaml.safe_dump(
            {"models": [{"alias": "default", "model": "openai/fake-model", "api_base": provider, "api_key": "k"}]}
        )
    )
    port = free_port()
    env = {
        **os.environ,
        "MESHLINE_LLM_CONFIG": str(config),
        "MESHLINE_LLM_PORT": str(port),
        "MESHLINE_REDIS_URL": redis_url,
        "MESHLINE_TOKEN_PUBLIC_KEY": public_key,
        "MESHLINE_HOME": str(tmp / "home"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = subprocess.Popen([sys.executable, "-m", "meshline.agents.llm"], env=env)
    wait_for_port(port, timeout_s=90)
    return proc, f"http://127.0.0.1:{port}/v1"


def litellm_proxy_reason() -> str | None:
    """Why the LiteLLM proxy cannot run here, or None when it can."""
    probe = subprocess.run([sys.executable, "-c", "import litellm.proxy.proxy_server"], capture_output=True, text=True)
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["import failed"])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests")
    args = parser.parse_args()
    private, public = generate_keypair()
    token = ServiceTokenIssuer(private, 3600).issue(tenant="bench", user="bench", scopes=["chat"], audience=["llm"])
    redis_port, provider_port = free_port(), free_port()
    procs = [start_redis(redis_port), start_fake_openai(provider_port, 50.0)]
    provider = f"http://127.0.0.1:{provider_port}/v1"
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            layer, url = start_llm_layer(Path(tmp), provider, f"redis://127.0.0.1:{redis_port}/0", public)
            procs.append(layer)
            direct = asyncio.run(measure(provider, {}, "fake-model", args.quick))
            meshline = asyncio.run(measure(url, {"authorization": f"Bearer {token}"}, "default", args.quick))
            results["meshline"] = added(meshline, direct)
            reason = litellm_proxy_reason()
            results["litellm_proxy"] = {"unavailable": f"litellm[proxy] cannot run here: {reason}"} if reason else None
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    for level, row in results["meshline"].items():
        print(f"meshline {level}: {row}")  # noqa: T201
    print(f"litellm_proxy: {results['litellm_proxy']}")  # noqa: T201
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {RESULTS}")  # noqa: T201


if __name__ == "__main__":
    main()
