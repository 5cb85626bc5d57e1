"""The knowledge agent's searches go through a circuit breaker: a memory service that keeps
failing is refused fast (503 ``circuit_open``, Retry-After) instead of being waited on every turn."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import respx

from meshline.agents.retrieval.app import create_app as create_agent
from meshline.agents.retrieval.settings import RetrievalSettings
from meshline.resilience.circuit_breaker import BreakerPolicy
from meshline.testing.asgi import asgi_client
from tests.agents.assistant.llm_standin import LLM_URL
from tests.agents.retrieval.conftest import MEMORY_URL


async def test_a_failing_memory_service_opens_the_agents_memory_breaker(
    mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, issue_token: Callable[..., str]
) -> None:
    monkeypatch.setenv("MESHLINE_LLM_URL", LLM_URL)
    monkeypatch.setenv("MESHLINE_MEMORY_URL", MEMORY_URL)
    agent = create_agent(RetrievalSettings())
    task = {
        "task_id": "t1",
        "thread_id": "th1",
        "messages": [{"role": "user", "content": "What is your refund policy?"}],
        "tokens": {"memory": issue_token("memory", tenant="acme", scopes=("knowledge:read",))},
    }
    headers = {"authorization": f"Bearer {issue_token('knowledge', tenant='acme')}"}
    async with asgi_client(agent, "http://knowledge.test") as http:
        with respx.mock(assert_all_called=False) as router:
            search = router.post(f"{MEMORY_URL}/v1/search").respond(500, json={"detail": "boom", "code": "internal"})
            for _ in range(BreakerPolicy().min_calls):
                failed = await http.post("/v1/invoke", json=task, headers=headers)
                assert failed.status_code == 500 and failed.json()["code"] == "internal"
            calls = search.call_count
            refused = await http.post("/v1/invoke", json=task, headers=headers)
    assert refused.status_code == 503 and refused.json()["code"] == "circuit_open"
    assert "retry-after" in refused.headers
    assert search.call_count == calls, "an open breaker does not call the memory service"
    assert agent.state.agent_clients.breaker.metrics is not None  # its state is in the agent's /metrics
