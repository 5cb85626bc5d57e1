"""Latency the LLM layer adds over a direct call to the provider, beside the LiteLLM proxy's.

The provider is the fake OpenAI-compatible server with a fixed 50 ms latency. Measured at
concurrency 1, 16 and 64, non-streamed latency and streamed time to first token, for three
targets in turn (direct, Meshline, LiteLLM proxy) so each level sees the same machine load:

- Meshline's LLM layer as its own process, with Redis, token verification, the registry, tenant
  quotas, the response cache (every request is a fresh ``temperature: 0`` question, so each one
  is a cache lookup and a fill) and the usage ledger switched on;
- the LiteLLM proxy (``litellm[proxy]``, one worker, master key, no database) over the same
  provider. The project's litellm (1.110.x) has no installable ``[proxy]`` extra here (it needs a
  ``litellm-proxy`` package the registry does not have), so the proxy runs from its own throwaway
  venv under ``.bench/`` (git-ignored), created on first use with ``LITELLM_PROXY_VERSION``.

    flock /tmp/meshline-bench.lock .venv/bin/python bench/llm_layer.py [--quick]

Prints a table and writes bench/results/llm_layer.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from meshline.cli import free_port, start_redis, wait_for_port
from meshline.service import ServiceTokenIssuer, generate_keypair
from meshline.sse import aiter_sse
from meshline.testing import start_fake_openai

sys.path.insert(0, str(Path(__file__).parent))
from overhead import percentile  # noqa: E402

LEVELS = {"c1": (1, 60), "c16": (16, 480), "c64": (64, 960)}
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "llm_layer.json"
# The newest litellm whose [proxy] extra resolves from the registry here: 1.110.x wants a
# `litellm-proxy` package that is not published, 1.108.14 and 1.109.3 want litellm-proxy-extras
# versions that are not published (0.4.110.post1, 0.4.113).
LITELLM_PROXY_VERSION = "1.106.12"
PROXY_VENV = ROOT / ".bench" / f"litellm-proxy-{LITELLM_PROXY_VERSION}"
QUESTION = itertools.count()
WHOLE, FIRST_TOKEN = 0, 1  # the two calls of calls()


@dataclass(frozen=True)
class Target:
    name: str
    base: str
    headers: dict[str, str]
    model: str
    pid: int | None = None  # the serving process, whose CPU time per request is reported


def cpu_s(pid: int | None) -> float:
    """User plus system CPU seconds the process has used so far (0 when there is no process)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(model: str, stream: bool) -> dict[str, Any]:
    """A question never asked before, deterministic (so Meshline's cache looks it up and fills it)."""
    content = f"hello there, benchmark question {next(QUESTION)}"
    return {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0, "stream": stream}


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


def calls(http: httpx.AsyncClient, target: Target) -> tuple[Callable[[], Awaitable[float]], ...]:
    url = f"{target.base}/chat/completions"

    async def whole() -> float:
        start = time.perf_counter()
        response = await http.post(url, json=body(target.model, False), headers=target.headers)
        assert response.status_code == 200, f"{target.name}: {response.status_code} {response.text[:300]}"
        return (time.perf_counter() - start) * 1000

    async def first_token() -> float:
        start = time.perf_counter()
        async with http.stream("POST", url, json=body(target.model, True), headers=target.headers) as response:
            assert response.status_code == 200, f"{target.name}: {response.status_code}"
            ttft = 0.0
            async for _event in aiter_sse(response):
                if not ttft:
                    ttft = (time.perf_counter() - start) * 1000
        return ttft

    return whole, first_token


async def run(target: Target, mode: int, concurrency: int, total: int) -> tuple[list[float], float]:
    """One target at one level, on connections of its own (a pooled connection left idle while the
    other targets ran may be closed by the server just as it is reused), warmed up first."""
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        call = calls(http, target)[mode]
        try:
            await timed(call, concurrency, concurrency)
            return await timed(call, concurrency, total)
        except httpx.TransportError as exc:
            kind = "streamed" if mode == FIRST_TOKEN else "whole"
            raise RuntimeError(f"{target.name}, {kind} at c{concurrency}: {exc!r}") from exc


async def measure(targets: list[Target], quick: bool, levels: list[str]) -> dict[str, dict[str, Any]]:
    """Raw latencies per target; at each level and mode the targets run back to back."""
    out: dict[str, dict[str, Any]] = {t.name: {} for t in targets}
    for target in targets:  # warm-up: imports, first-call caches
        await run(target, WHOLE, 4, 32)
        await run(target, FIRST_TOKEN, 4, 32)
    for level in levels:
        concurrency, total = LEVELS[level]
        total = max(concurrency, total // 4) if quick else total
        for target in targets:
            before = cpu_s(target.pid)
            out[target.name][f"{level}_whole"], out[target.name][f"{level}_rps"] = await run(
                target, WHOLE, concurrency, total
            )
            out[target.name][f"{level}_cpu_ms"] = (cpu_s(target.pid) - before) * 1000 / (total + concurrency)
        for target in targets:
            out[target.name][f"{level}_ttft"], _ = await run(target, FIRST_TOKEN, concurrency, total)
    return out


def added(layer: dict[str, Any], direct: dict[str, Any], levels: list[str]) -> dict[str, dict[str, float]]:
    result = {}
    for level in levels:
        whole, base = layer[f"{level}_whole"], direct[f"{level}_whole"]
        result[level] = {
            "added_p50_ms": round(statistics.median(whole) - statistics.median(base), 1),
            "added_p99_ms": round(percentile(whole, 99) - percentile(base, 99), 1),
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
            {
                "models": [{"alias": "default", "model": "openai/fake-model", "api_base": provider, "api_key": "k"}],
                # Quotas on (high enough never to refuse): each request pays the quota check.
                "llm": {"default_limits": {"requests_per_minute": 1_000_000, "tokens_per_minute": 100_000_000}},
            }
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


def ensure_proxy_venv() -> Path:
    """The LiteLLM proxy's executable, installing ``litellm[proxy]`` into its own venv on first use."""
    exe = PROXY_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    print(f"installing litellm[proxy]=={LITELLM_PROXY_VERSION} into {PROXY_VENV} (once)")  # noqa: T201
    subprocess.run([sys.executable, "-m", "venv", str(PROXY_VENV)], check=True)
    pip = [str(PROXY_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    install = subprocess.run([*pip, f"litellm[proxy]=={LITELLM_PROXY_VERSION}"], capture_output=True, text=True)
    if install.returncode != 0:
        errors = [line for line in install.stderr.splitlines() if line.startswith("ERROR")]
        raise RuntimeError(f"pip install litellm[proxy]=={LITELLM_PROXY_VERSION} failed: {' '.join(errors[-2:])}")
    return exe


def start_litellm_proxy(tmp: Path, provider: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """The proxy with one worker over the same provider; it refuses to start without a master key."""
    exe = ensure_proxy_venv()
    master_key = f"sk-bench-{secrets.token_hex(16)}"
    config = tmp / "litellm.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "default",
                        "litellm_params": {"model": "openai/fake-model", "api_base": provider, "api_key": "k"},
                    }
                ],
                "general_settings": {"master_key": master_key},
            }
        )
    )
    port = free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    log = (tmp / "litellm-proxy.log").open("wb")
    command = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            wait_for_port(port, timeout_s=1)
            return proc, f"http://127.0.0.1:{port}/v1", master_key
        except TimeoutError:
            continue
    proc.terminate()
    proc.wait(timeout=10)
    tail = (tmp / "litellm-proxy.log").read_text(errors="replace").splitlines()[-3:]
    raise RuntimeError(f"the LiteLLM proxy did not start: {' | '.join(tail)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests")
    parser.add_argument("--no-proxy", action="store_true", help="measure Meshline only (no LiteLLM proxy)")
    parser.add_argument("--levels", default=",".join(LEVELS), help="comma-separated subset of c1,c16,c64")
    parser.add_argument("--no-save", action="store_true", help="print only (for before/after comparisons)")
    args = parser.parse_args()
    levels = args.levels.split(",")
    private, public = generate_keypair()
    token = ServiceTokenIssuer(private, 3600).issue(tenant="bench", user="bench", scopes=["llm:call"], audience="llm")
    redis_port, provider_port = free_port(), free_port()
    procs = [start_redis(redis_port), start_fake_openai(provider_port, 50.0)]
    provider = f"http://127.0.0.1:{provider_port}/v1"
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            layer, url = start_llm_layer(Path(tmp), provider, f"redis://127.0.0.1:{redis_port}/0", public)
            procs.append(layer)
            targets = [
                Target("direct", provider, {}, "fake-model"),
                Target("meshline", url, {"authorization": f"Bearer {token}"}, "default", layer.pid),
            ]
            proxy_error = "skipped (--no-proxy)" if args.no_proxy else None
            if not args.no_proxy:
                try:
                    proxy, proxy_url, master_key = start_litellm_proxy(Path(tmp), provider)
                    procs.append(proxy)
                    targets.append(
                        Target(
                            "litellm_proxy", proxy_url, {"authorization": f"Bearer {master_key}"}, "default", proxy.pid
                        )
                    )
                except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                    proxy_error = str(exc)
            raw = asyncio.run(measure(targets, args.quick, levels))
            for target in targets[1:]:
                results[target.name] = added(raw[target.name], raw["direct"], levels)
                cpu = {level: round(raw[target.name][f"{level}_cpu_ms"], 2) for level in levels}
                print(f"{target.name} CPU ms per non-streamed request: {cpu}")  # noqa: T201
            if proxy_error is not None:
                results["litellm_proxy"] = {"unavailable": proxy_error}
            direct_p50 = {level: round(statistics.median(raw["direct"][f"{level}_whole"]), 1) for level in levels}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"direct call p50 (ms): {direct_p50}; LiteLLM proxy {LITELLM_PROXY_VERSION}")  # noqa: T201
    for name in ("meshline", "litellm_proxy"):
        for level, row in results[name].items():
            print(f"{name:14} {level}: {row}")  # noqa: T201
    if args.no_save:
        return
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {RESULTS}")  # noqa: T201


if __name__ == "__main__":
    main()
