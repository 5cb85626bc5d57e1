"""An assistant agent wired to a real tool service, with a scripted LLM at its HTTP boundary.

``harness``: the commerce agent and the commerce tool service, or (parametrized ``general``) the
general agent and the CRM. The tool service runs in-process (its real app and SQLite database) behind
respx, which hands its requests to the ASGI app; the LLM stand-in (a ``ScriptedModel``) answers each call with
the next scripted reply (text, or OpenAI tool calls) and records what it was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI

from meshline.agents.assistant.app import create_app as create_agent
from meshline.agents.assistant.settings import AssistantSettings
from meshline.testing.scripted_model import ScriptedModel
from meshline.tools.commerce.app import create_app as create_commerce
from meshline.tools.commerce.settings import CommerceSettings
from meshline.tools.crm.app import create_app as create_crm
from meshline.tools.crm.settings import CRMSettings
from tests.agents.assistant.llm_standin import COMPLETIONS, LLM_URL

COMMERCE_URL = "http://commerce.test:8301"
CRM_URL = "http://crm.test:8300"


@dataclass
class Harness:
    agent: httpx.AsyncClient
    tools_http: httpx.AsyncClient
    llm: ScriptedModel
    token: Callable[..., str]
    agent_name: str = "commerce"
    service: str = "commerce-tools"
    tools_url: str = COMMERCE_URL

    def headers(self, audience: str, user: str = "dev") -> dict[str, str]:
        """A bearer token for one audience, as the orchestrator mints them (one per hop)."""
        return {"authorization": f"Bearer {self.token(audience=audience, tenant='dev', user=user)}"}

    async def tool(self, name: str, args: dict[str, Any], user: str = "dev") -> Any:
        """Call the tool service directly (a read, to check what the agent did)."""
        url = f"{self.tools_url}/v1/tools/{name}"
        response = await self.tools_http.post(url, json=args, headers=self.headers(self.service, user))
        assert response.status_code == 200, response.text
        return response.json()

    async def invoke(self, messages: list[dict[str, Any]], pending: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {
            "task_id": "t1",
            "thread_id": "thread-7",
            "messages": messages,
            "tools": [
                {
                    "service": self.service,
                    "url": self.tools_url,
                    "token": self.token(self.service, tenant="dev", user="dev"),
                }
            ],
            "tokens": {"llm": self.token("llm", tenant="dev", user="dev")},
            "pending": pending,
        }
        response = await self.agent.post("/v1/invoke", json=body, headers=self.headers(self.agent_name))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@asynccontextmanager
async def wired(
    profile: str, service: str, tools_url: str, tools: FastAPI, token: Callable[..., str]
) -> AsyncIterator[Harness]:
    """The agent of ``profile`` with the tool service app ``tools`` at ``tools_url``, both started."""
    agent: FastAPI = create_agent(AssistantSettings(profile=profile))
    llm = ScriptedModel()
    transport = httpx.ASGITransport(app=tools)

    async def to_tools(request: httpx.Request) -> httpx.Response:
        response = await transport.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async with tools.router.lifespan_context(tools), agent.router.lifespan_context(agent):
        with respx.mock(assert_all_called=False) as router:
            router.get(f"{LLM_URL}/healthz").respond(200, json={"status": "ok"})
            router.post(f"{LLM_URL}{COMPLETIONS}").mock(side_effect=llm)
            router.route(host=httpx.URL(tools_url).host).mock(side_effect=to_tools)
            agent_transport = httpx.ASGITransport(app=agent)
            async with (
                httpx.AsyncClient(transport=agent_transport, base_url=f"http://{profile}-agent.test") as agent_http,
                httpx.AsyncClient() as tools_http,
            ):
                yield Harness(agent_http, tools_http, llm, token, profile, service, tools_url)


# Profile -> (the tool service it uses, where the harness serves it, a fresh app of it).
SETUPS: dict[str, tuple[str, str, Callable[[], FastAPI]]] = {
    "commerce": ("commerce-tools", COMMERCE_URL, lambda: create_commerce(CommerceSettings(demo_customers=10))),
    "general": ("crm", CRM_URL, lambda: create_crm(CRMSettings(demo_customers=10))),
}


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest,
    mesh_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    issue_token: Callable[..., str],
) -> AsyncIterator[Harness]:
    """The commerce agent and service; ``parametrize("harness", ["general"], indirect=True)`` for the general one."""
    profile: str = getattr(request, "param", "commerce")
    service, url, make_tools = SETUPS[profile]
    monkeypatch.setenv("MESHLINE_LLM_URL", LLM_URL)
    async with wired(profile, service, url, make_tools(), issue_token) as h:
        yield h
