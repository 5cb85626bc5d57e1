"""One audience per token, through a running mesh: a token minted for one service opens no other.

Tokens are minted with the mesh's own signing key (as the orchestrator would), with every scope
a service could ask for, so the only thing that differs between the accepted and the refused
calls is the audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from meshline.service import scopes
from meshline.service.auth import ServiceTokenIssuer
from meshline.testing.mesh import TestMesh

pytestmark = pytest.mark.e2e
EVERY_SCOPE = list(scopes.SERVICE_SCOPES)


@dataclass(frozen=True)
class Target:
    """One service of the mesh and a request that needs its token."""

    audience: str
    process: str
    method: str
    path: str
    body: dict[str, Any] | None

    def call(self, mesh: TestMesh, token: str) -> httpx.Response:
        url = mesh.specs[self.process].url + self.path
        headers = {"authorization": f"Bearer {token}"}
        body = self.body
        if body is TASK:  # an agent also needs the task's own tokens to do its work (and answer 200)
            minted = issuer(mesh)
            hop = {a: minted.issue(tenant="dev", user="dev", scopes=EVERY_SCOPE, audience=a) for a in ("llm", "memory")}
            body = {**TASK, "tokens": hop}
        return httpx.request(self.method, url, json=body, headers=headers, timeout=30)


TASK: dict[str, Any] = {"task_id": "t", "thread_id": "th", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"model": "default", "messages": [{"role": "user", "content": "x"}]}
TARGETS = [
    Target("general", "general", "POST", "/v1/invoke", TASK),
    Target("commerce", "commerce", "POST", "/v1/invoke", TASK),
    Target("knowledge", "knowledge", "POST", "/v1/invoke", TASK),
    Target(
        "llm",
        "llm",
        "POST",
        "/v1/chat/completions",
        {"model": "default", "messages": [{"role": "user", "content": "x"}]},
    ),
    Target("memory", "memory", "POST", "/v1/memories/search", {"query": "x"}),
    Target("crm", "crm", "POST", "/v1/tools/get_my_profile", {}),
    Target("commerce-tools", "commerce-tools", "POST", "/v1/tools/list_my_orders", {}),
]


def issuer(mesh: TestMesh) -> ServiceTokenIssuer:
    return ServiceTokenIssuer((mesh.home / "keys" / "service_token.pem").read_text())


@pytest.mark.parametrize("minted_for", [t.audience for t in TARGETS])
def test_a_token_opens_its_own_service_and_no_other(mesh: TestMesh, minted_for: str) -> None:
    token = issuer(mesh).issue(tenant="dev", user="dev", scopes=EVERY_SCOPE, audience=minted_for)
    for target in TARGETS:
        response = target.call(mesh, token)
        if target.audience == minted_for:
            assert response.status_code == 200, (target.audience, response.text)
        else:
            assert response.status_code == 403, (minted_for, target.audience, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "wrong_audience"


def test_a_tool_services_token_opens_neither_memory_nor_the_llm_layer_over_mcp_either(mesh: TestMesh) -> None:
    """What a tool service receives is useless anywhere else, the MCP endpoint of a sibling included."""
    token = issuer(mesh).issue(tenant="dev", user="dev", scopes=EVERY_SCOPE, audience="crm")
    for target in TARGETS:
        if target.audience != "crm":
            assert target.call(mesh, token).status_code == 403, target.audience
    mcp = httpx.post(
        mesh.specs["commerce-tools"].url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_my_orders", "arguments": {}}},
        headers={"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert mcp.status_code == 403 and mcp.json()["code"] == "wrong_audience"


def test_an_agents_own_token_cannot_call_its_tools_llm_or_memory(mesh: TestMesh) -> None:
    """The token the orchestrator calls an agent with cannot be replayed against what the agent uses."""
    token = issuer(mesh).issue(tenant="dev", user="dev", scopes=EVERY_SCOPE, audience="commerce")
    for target in TARGETS:
        if target.audience in ("commerce-tools", "llm", "memory"):
            assert target.call(mesh, token).status_code == 403, target.audience
