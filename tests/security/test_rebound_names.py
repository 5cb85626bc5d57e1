"""A registered name rebound to an internal address later gains nothing: dispatch to agents and an
agent's calls to its tool services go through the same address guard as the registry.

The "rebound" service is a real HTTP peer on loopback whose instance is written straight into the
registry (as a public name that later resolves to 127.0.0.1 would be); with loopback not
allow-listed, no request may reach it. With loopback allow-listed (the positive control), it is
called as usual.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import respx
from fastapi import FastAPI
from redis.asyncio import Redis

from meshline.agents.assistant.app import create_app as create_agent
from meshline.agents.assistant.settings import AssistantSettings
from meshline.contracts.agent import AgentTask
from meshline.contracts.manifest import Manifest
from meshline.orchestrator.app import create_app as create_orchestrator
from meshline.orchestrator.registry import INSTANCES, MANIFESTS, Instance
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.scripted_model import ScriptedModel
from meshline.testing.serve import serve_in_thread
from meshline.tools.commerce.app import create_app as create_commerce
from meshline.tools.commerce.settings import CommerceSettings
from tests.agents.assistant.llm_standin import COMPLETIONS, LLM_URL
from tests.orchestrator.test_dispatch_resilience import answering_agent

LOOPBACK = "127.0.0.0/8,::1/128"


class Hits:
    """Counts the requests an ASGI app receives (the peer's own view of who reached it)."""

    def __init__(self, app: FastAPI) -> None:
        self.app, self.count = app, 0

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


@pytest.mark.parametrize("allow", ["", LOOPBACK])
async def test_dispatch_refuses_an_agent_whose_address_is_not_allowed(
    mesh_env: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, allow: str
) -> None:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS", allow)
    agent = Hits(answering_agent("rebound", content="served"))
    app = create_orchestrator(OrchestratorSettings())
    redis = Redis.from_url(redis_url)
    task = AgentTask(task_id="t", thread_id="th", messages=[{"role": "user", "content": "hi"}])
    try:
        with serve_in_thread(agent) as url:  # type: ignore[arg-type]
            await redis.hset(MANIFESTS, "rebound", Manifest(name="rebound", kind="agent").model_dump_json())
            await redis.hset(INSTANCES.format(name="rebound"), url, Instance(url=url).model_dump_json())
            async with app.router.lifespan_context(app):
                outcome = await app.state.caller.invoke(
                    "rebound", task, tenant="acme", user="alice", on_delta=lambda *_: None, on_tool=lambda *_: None
                )
                result, error = outcome.result, outcome.failure
    finally:
        await redis.aclose()
    if allow:
        assert (result.content, error, len(agent.app.state.tasks)) == ("served", None, 1)
    else:
        assert error is not None and "unavailable" in result.content
        assert agent.count == 0, "no request reached the address that is not allow-listed"


@pytest.fixture
async def tool_service(mesh_env: dict[str, str]) -> AsyncIterator[tuple[str, Hits]]:
    hits = Hits(create_commerce(CommerceSettings(demo_customers=5)))
    with serve_in_thread(hits, lifespan="on") as url:  # type: ignore[arg-type]
        yield url, hits


@pytest.mark.parametrize("allow", ["", LOOPBACK])
@pytest.mark.parametrize("protocol", ["meshline", "mcp"])
async def test_an_agent_refuses_a_tool_service_whose_address_is_not_allowed(
    tool_service: tuple[str, Hits],
    monkeypatch: pytest.MonkeyPatch,
    issue_token: Callable[..., str],
    allow: str,
    protocol: str,
) -> None:
    url, hits = tool_service
    before = hits.count
    monkeypatch.setenv("MESHLINE_LLM_URL", LLM_URL)
    monkeypatch.setenv("MESHLINE_ASSISTANT_TOOL_ALLOW_NETWORKS", allow)
    agent = create_agent(AssistantSettings(profile="commerce"))
    llm = ScriptedModel(*[[("list_my_orders", {})], "Here they are."])
    binding = {
        "service": "commerce-tools",
        "url": f"{url}/mcp" if protocol == "mcp" else url,
        "protocol": protocol,
        "token": issue_token("commerce-tools", tenant="dev", user="dev"),
    }
    task = {
        "task_id": "t",
        "thread_id": "th",
        "messages": [{"role": "user", "content": "my orders?"}],
        "tools": [binding],
        "tokens": {"llm": "llm-token"},
    }
    async with agent.router.lifespan_context(agent):
        with respx.mock(assert_all_called=False) as router:
            router.get(f"{LLM_URL}/healthz").respond(200, json={"status": "ok"})
            router.post(f"{LLM_URL}{COMPLETIONS}").mock(side_effect=llm)
            router.route(host="127.0.0.1").pass_through()  # the real tool service (if the guard lets it)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=agent), base_url="http://a.test") as http:
                headers = {"authorization": f"Bearer {issue_token('commerce', tenant='dev', user='dev')}"}
                response = await http.post("/v1/invoke", json=task, headers=headers)
    assert response.status_code == 200, response.text
    offered = "tools" in llm.requests[0]
    if allow:
        assert offered and response.json()["tool_calls"][0]["status"] == "ok"
        assert hits.count > before
    else:
        # The manifest (or MCP listing) is never fetched, so the model is offered no tools at all, and
        # the (scripted) call it makes anyway runs nothing.
        calls = response.json()["tool_calls"]
        assert not offered and [c["status"] for c in calls] == ["error"] and "no tool" in calls[0]["error"]
        assert hits.count == before, json.dumps(response.json())
