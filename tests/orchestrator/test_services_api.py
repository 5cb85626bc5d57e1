"""The registry's API: who may see it, what a tenant may see instead, and the per-registration token policy.

In-process orchestrator over real Redis; the registered services are real HTTP peers on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from meshline.orchestrator.app import create_app
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.serve import serve_in_thread
from meshline.tools.kit import ToolServiceSettings, create_tool_app
from tests.orchestrator.test_registry_conflicts import echo
from tests.security.registration_upstreams import Upstream

ADMIN = "services-admin-key"
AGENT = {"name": "concierge", "kind": "agent", "description": "Answers questions.", "examples": ["hi"], "uses": ["x"]}
# A tool service that claims a token policy itself: the registration decides, not the service.
SELF_DECLARED = {"name": "weather", "kind": "tool", "description": "Weather.", "token_policy": "none"}


@pytest.fixture
async def orchestrator(
    mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS", "127.0.0.0/8")
    app = create_app(OrchestratorSettings())
    async with asgi_client(app, "http://o") as http:
        yield http, app


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


async def chat_key(http: httpx.AsyncClient) -> dict[str, str]:
    created = await http.post("/v1/keys", json={"tenant": "acme", "scopes": ["chat"]}, headers=admin())
    assert created.status_code == 201, created.text
    return {"authorization": f"Bearer {created.json()['key']}"}


def tool_app(tmp_path: Path) -> FastAPI:
    settings = ToolServiceSettings(name="echo-tools", database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite'}")
    return create_tool_app(settings=settings, tools=[echo], description="echoes")


async def test_a_tenant_lists_agents_by_name_and_never_the_registry(
    orchestrator: tuple[httpx.AsyncClient, FastAPI], tmp_path: Path
) -> None:
    http, _ = orchestrator
    with serve_in_thread(Upstream(manifest=AGENT)) as agent, serve_in_thread(tool_app(tmp_path)) as tool:
        for url in (agent, tool):
            assert (await http.post("/v1/services", json={"url": url}, headers=admin())).status_code == 201
        tenant = await chat_key(http)

        refused = await http.get("/v1/services", headers=tenant)
        assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"
        assert refused.headers["content-type"] == "application/problem+json"
        assert agent not in refused.text and tool not in refused.text

        agents = await http.get("/v1/agents", headers=tenant)
        assert agents.status_code == 200
        assert agents.json() == {"agents": [{"name": "concierge", "description": "Answers questions."}]}
        assert (await http.get("/v1/agents")).status_code == 401

        listed = await http.get("/v1/services", headers=admin())  # the platform admin still sees everything
        assert {s["name"] for s in listed.json()["services"]} == {"concierge", "echo-tools"}


async def test_token_policy_is_the_registrations_choice_and_reaches_the_binding(
    orchestrator: tuple[httpx.AsyncClient, FastAPI], tmp_path: Path
) -> None:
    http, app = orchestrator
    registry: ServiceRegistry = app.state.registry
    with serve_in_thread(tool_app(tmp_path)) as tool, serve_in_thread(Upstream(manifest=SELF_DECLARED)) as weather:
        none = await http.post("/v1/services", json={"url": tool, "token_policy": "none"}, headers=admin())
        assert none.status_code == 201 and none.json()["manifest"]["token_policy"] == "none"
        binding = await registry.binding("echo-tools")
        assert binding.token_policy == "none" and binding.url == tool and binding.token is None

        default = await http.post("/v1/services", json={"url": weather}, headers=admin())
        assert default.status_code == 201 and default.json()["manifest"]["token_policy"] == "own"
        assert (await registry.binding("weather")).token_policy == "own", "the service's own claim is ignored"

        with serve_in_thread(tool_app(tmp_path)) as replica:  # replicas share one policy
            clash = await http.post("/v1/services", json={"url": replica, "token_policy": "own"}, headers=admin())
            assert clash.status_code == 409 and clash.json()["code"] == "token_policy_conflict"
            assert [i.url for i in await registry.instances("echo-tools")] == [tool]
        # The one instance re-registered: its policy changes.
        again = await http.post("/v1/services", json={"url": tool, "token_policy": "own"}, headers=admin())
        assert again.status_code == 201 and (await registry.binding("echo-tools")).token_policy == "own"

        bad = await http.post("/v1/services", json={"url": tool, "token_policy": "forward"}, headers=admin())
        assert bad.status_code == 422


async def test_an_agent_always_gets_its_own_token(orchestrator: tuple[httpx.AsyncClient, FastAPI]) -> None:
    http, _ = orchestrator
    with serve_in_thread(Upstream(manifest=AGENT)) as agent:
        refused = await http.post("/v1/services", json={"url": agent, "token_policy": "none"}, headers=admin())
        assert refused.status_code == 400 and refused.json()["code"] == "token_policy_not_applicable"
        assert (await http.get("/v1/services", headers=admin())).json() == {"services": []}
