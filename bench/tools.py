"""Tool calls through the kit, and what one agent step that calls a tool adds.

Processes: the commerce tool service (SQLite, seeded demo store), an assistant agent (profile
``commerce``) and the fake OpenAI-compatible provider (0 ms latency, scripted to call one tool),
each its own process; the load generator is this process.

1. Tool-call latency through the kit, over the native contract (``POST /v1/tools/{name}``) and
   over MCP (``/mcp``, the mesh's MCP client): a read tool (``get_order``) and a write tool
   (``change_shipping_address``, a new Idempotency-Key per call: every call is a real write and
   an idempotency record, one transaction) at concurrency 1 and 16.
2. One agent step that calls one tool: ``POST /v1/invoke`` on the agent, whose model asks for
   ``get_order`` and then answers (two provider calls and one tool call). Its overhead is the
   step's latency minus the parts measured alone (p50 of two provider calls + one tool call).

    flock /tmp/meshline-bench.lock .venv/bin/python bench/tools.py [--quick]

Prints a table and writes bench/results/tools.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from overhead import load  # bench/overhead.py: the same bounded load generator

from meshline.cli import free_port, wait_for_port
from meshline.errors import MeshlineError
from meshline.mcp_client import McpToolClient
from meshline.service import ServiceTokenIssuer, generate_keypair
from meshline.testing import start_fake_openai

RESULTS = Path(__file__).parent / "results" / "tools.json"
LEVELS = {"c1": (1, 300), "c16": (16, 1600)}
QUICK_LEVELS = {"c1": (1, 40), "c16": (16, 160)}
STEP_LEVELS = {"c1": (1, 150), "c16": (16, 480)}
QUICK_STEP_LEVELS = {"c1": (1, 20), "c16": (16, 64)}
Call = Callable[[int], Awaitable[None]]


@contextmanager
def process(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout_s=120)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def wait_ready(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def checked(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text[:200]


async def measure(
    tools_url: str, agent_url: str, provider_url: str, tokens: dict[str, str], quick: bool
) -> dict[str, Any]:
    """``tokens``: one per audience (the agent, its tool service, the LLM layer), as the orchestrator mints them."""
    levels, step_levels = (QUICK_LEVELS, QUICK_STEP_LEVELS) if quick else (LEVELS, STEP_LEVELS)
    token = tokens["commerce-tools"]
    auth = {"authorization": f"Bearer {token}"}
    results: dict[str, Any] = {"tool_calls": {}, "agent_step": {}}
    mcp = McpToolClient(timeout_s=30)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as http:
        listed = await http.post(f"{tools_url}/v1/tools/list_my_orders", json={"status": "pending"}, headers=auth)
        order = listed.json()["orders"][0]["id"]
        read_args = {"order_id": order}

        def write_args(i: int) -> dict[str, str]:
            return {"order_id": order, "address": f"{i} Bench Street, Lyon"}

        async def native_read(i: int) -> None:
            checked(await http.post(f"{tools_url}/v1/tools/get_order", json=read_args, headers=auth))

        async def native_write(i: int) -> None:
            headers = {**auth, "idempotency-key": f"bench-{uuid.uuid4().hex}"}
            url = f"{tools_url}/v1/tools/change_shipping_address"
            checked(await http.post(url, json=write_args(i), headers=headers))

        async def over_mcp(tool: str, args: dict[str, Any], key: str | None) -> None:
            try:
                await mcp.call_tool(f"{tools_url}/mcp", tool, args, token=token, idempotency_key=key)
            except MeshlineError as exc:
                raise AssertionError(exc.detail) from exc

        async def mcp_read(i: int) -> None:
            await over_mcp("get_order", read_args, None)

        async def mcp_write(i: int) -> None:
            await over_mcp("change_shipping_address", write_args(i), f"bench-{uuid.uuid4().hex}")

        calls: dict[str, Call] = {
            "native_read": native_read,
            "native_write": native_write,
            "mcp_read": mcp_read,
            "mcp_write": mcp_write,
        }
        for name, call in calls.items():
            await load(call, 1, 20)  # warm-up: connections, caches, the MCP discovery
            for level, (concurrency, total) in levels.items():
                results["tool_calls"][f"{name}_{level}"] = await load(call, concurrency, total)

        # The parts of one agent step, measured alone.
        provider = provider_url.removesuffix("/v1")

        async def provider_call(i: int) -> None:
            body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
            checked(await http.post(f"{provider}/v1/chat/completions", json=body))

        await load(provider_call, 1, 20)
        provider_c1 = await load(provider_call, 1, 200 if not quick else 30)
        script = {
            "tool": "get_order",
            "turns": [{"tool_calls": [{"name": "get_order", "arguments": read_args}]}, {"content": "Found it."}],
        }
        (await http.post(f"{provider}/_script", json=script)).raise_for_status()
        for protocol, url in (("meshline", tools_url), ("mcp", f"{tools_url}/mcp")):

            async def step(i: int, protocol: str = protocol, url: str = url) -> None:
                task = {
                    "task_id": f"bench-{i}",
                    "thread_id": f"bench-{protocol}-{i}",
                    "messages": [{"role": "user", "content": f"what is in order {order}?"}],
                    "tools": [{"service": "commerce-tools", "url": url, "protocol": protocol, "token": token}],
                    "tokens": {"llm": tokens["llm"]},
                }
                agent_auth = {"authorization": f"Bearer {tokens['commerce']}"}
                response = await http.post(f"{agent_url}/v1/invoke", json=task, headers=agent_auth)
                checked(response)
                calls_made = response.json()["tool_calls"]
                assert [c["status"] for c in calls_made] == ["ok"], calls_made

            await load(step, 1, 10)
            for level, (concurrency, total) in step_levels.items():
                results["agent_step"][f"{protocol}_{level}"] = await load(step, concurrency, total)
            tool_p50 = results["tool_calls"][f"{'native' if protocol == 'meshline' else 'mcp'}_read_c1"]["p50_ms"]
            step_p50 = results["agent_step"][f"{protocol}_c1"]["p50_ms"]
            results["agent_step"][f"{protocol}_overhead_c1_p50_ms"] = step_p50 - 2 * provider_c1["p50_ms"] - tool_p50
        results["agent_step"]["provider_call_c1"] = provider_c1
    await mcp.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    args = parser.parse_args()
    private, public = generate_keypair()
    issuer = ServiceTokenIssuer(private, ttl_s=3600)
    hop_scopes = {"commerce": "agent:invoke", "commerce-tools": "tools:call", "llm": "llm:call"}
    tokens = {a: issuer.issue(tenant="dev", user="dev", scopes=[s], audience=a) for a, s in hop_scopes.items()}
    tools_port, agent_port, provider_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {"MESHLINE_HOME": str(home), "MESHLINE_TOKEN_PUBLIC_KEY": public, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        tools_env = {**env, "MESHLINE_COMMERCE_PORT": str(tools_port)}
        agent_env = {
            **env,
            "MESHLINE_ASSISTANT_PORT": str(agent_port),
            "MESHLINE_ASSISTANT_PROFILE": "commerce",
            "MESHLINE_LLM_URL": f"http://127.0.0.1:{provider_port}",  # the agent straight to the provider
        }
        provider = start_fake_openai(provider_port)
        try:
            with (
                process([sys.executable, "-m", "meshline.tools.commerce"], tools_env, tools_port, home / "tools.log"),
                process([sys.executable, "-m", "meshline.agents.assistant"], agent_env, agent_port, home / "agent.log"),
            ):
                tools_url, agent_url = f"http://127.0.0.1:{tools_port}", f"http://127.0.0.1:{agent_port}"
                wait_ready(f"{tools_url}/readyz")
                wait_ready(f"{agent_url}/healthz")
                provider_url = f"http://127.0.0.1:{provider_port}/v1"
                results = asyncio.run(measure(tools_url, agent_url, provider_url, tokens, args.quick))
        finally:
            provider.terminate()
            provider.wait(timeout=10)

    print(f"{'tool call':<22} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8} {'errors':>6}")  # noqa: T201
    for name, r in {**results["tool_calls"], **results["agent_step"]}.items():
        if isinstance(r, dict):
            print(f"{name:<22} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['rps']:8.1f} {r['errors']:6d}")  # noqa: T201
    for protocol in ("meshline", "mcp"):
        overhead = results["agent_step"][f"{protocol}_overhead_c1_p50_ms"]
        print(f"agent step overhead ({protocol}, c1 p50): {overhead:.1f} ms")  # noqa: T201
    results["machine"] = {"cpus": os.cpu_count(), "quick": args.quick, "measured_at": time.strftime("%Y-%m-%d")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
