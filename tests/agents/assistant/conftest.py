"""An assistant agent in-process, with the LLM layer stood in for by respx at its HTTP boundary.

The LLM layer speaks the OpenAI wire format, so the stand-in answers OpenAI ``chat.completion``
JSON and ``chat.completion.chunk`` SSE; everything else (auth, the agent app, the resilient
client) is the real code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import respx
from fastapi import FastAPI

from meshline.agents.assistant.app import create_app
from meshline.agents.assistant.settings import AssistantSettings
from tests.agents.assistant.llm_standin import LLM_URL
from tests.agents.assistant.tool_loop_harness import harness  # noqa: F401  (the tool-loop fixture)


@pytest.fixture
def llm() -> Iterator[respx.MockRouter]:
    """The LLM layer stand-in; tests add their own ``/v1/chat/completions`` answers."""
    with respx.mock(base_url=LLM_URL, assert_all_called=False) as router:
        router.get("/healthz").respond(200, json={"status": "ok", "service": "llm"})
        yield router


@pytest.fixture
def agent_env(mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MESHLINE_LLM_URL", LLM_URL)
    return {**mesh_env, "MESHLINE_LLM_URL": LLM_URL}


@pytest.fixture
async def agent_app(agent_env: dict[str, str]) -> AsyncIterator[FastAPI]:
    app = create_app(AssistantSettings())
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(agent_app: FastAPI, llm: respx.MockRouter) -> AsyncIterator[httpx.AsyncClient]:
    """The agent over in-process HTTP; the LLM stand-in is active for as long as it is open."""
    transport = httpx.ASGITransport(app=agent_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://general.test") as http:
        yield http


@pytest.fixture
def token(issue_token: Callable[..., str]) -> str:
    """What the orchestrator calls the general agent with: valid for the agent alone."""
    return issue_token(audience="general")


@pytest.fixture
def llm_token(issue_token: Callable[..., str]) -> str:
    """What the orchestrator puts in the task for the agent's LLM calls: valid for the LLM layer alone."""
    return issue_token(audience="llm")
