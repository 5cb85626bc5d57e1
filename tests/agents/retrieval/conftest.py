"""The knowledge agent in-process against a real memory service holding the bundled knowledge base.

The memory service is the real app (real Redis, real embedded Chroma, the real MiniLM model);
respx hands the agent's calls to it in-process. The LLM layer is a scripted stand-in at its
HTTP boundary that records what it was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from meshline.agents.retrieval.app import create_app as create_agent
from meshline.agents.retrieval.settings import RetrievalSettings
from meshline.embeddings import LocalEmbedder
from meshline.memory.app import create_app as create_memory
from meshline.memory.settings import MemorySettings
from meshline.testing.scripted_model import ScriptedModel
from meshline.testing.wait import wait_until
from tests.agents.assistant.llm_standin import COMPLETIONS, LLM_URL

MEMORY_URL = "http://memory.test:8200"
KNOWLEDGE_DIR = Path(__file__).resolve().parents[3] / "knowledge"


@dataclass
class Harness:
    agent: httpx.AsyncClient
    memory: httpx.AsyncClient
    llm: ScriptedModel
    token: Callable[..., str]

    def headers(self, tenant: str = "acme", audience: str = "knowledge") -> dict[str, str]:
        """The token the orchestrator calls the agent with (or, with ``audience``, another service)."""
        return {"authorization": f"Bearer {self.token(audience, tenant=tenant)}"}

    def task(self, question: str, tenant: str = "acme") -> dict[str, Any]:
        """A task as the orchestrator sends it, with the tenant's one-audience tokens for llm and memory."""
        tokens = {
            "llm": self.token("llm", tenant=tenant, scopes=("llm:call",)),
            "memory": self.token("memory", tenant=tenant, scopes=("knowledge:read",)),
        }
        return {
            "task_id": "t1",
            "thread_id": "th1",
            "messages": [{"role": "user", "content": question}],
            "tokens": tokens,
        }


@pytest.fixture(scope="session")
def embedder() -> Iterator[LocalEmbedder]:
    model = LocalEmbedder()
    yield model
    model.close()


async def ingest_knowledge(memory: httpx.AsyncClient, headers: dict[str, str]) -> None:
    documents = [
        {"id": path.stem, "text": path.read_text(encoding="utf-8"), "format": "markdown"}
        for path in sorted(KNOWLEDGE_DIR.glob("*.md"))
    ]
    response = await memory.post(
        f"{MEMORY_URL}/v1/collections/default/documents", json={"documents": documents}, headers=headers
    )
    assert response.status_code == 202, response.text

    async def ingested() -> bool:
        status = (await memory.get(f"{MEMORY_URL}/v1/jobs/{response.json()['job_id']}", headers=headers)).json()
        assert status["state"] != "completed_with_errors", status
        return bool(status["state"] == "completed")

    await wait_until(ingested, timeout=30, what="the knowledge base was not ingested")


@pytest.fixture
async def harness(
    mesh_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    embedder: LocalEmbedder,
    issue_token: Callable[..., str],
) -> AsyncIterator[Harness]:
    monkeypatch.setenv("MESHLINE_LLM_URL", LLM_URL)
    monkeypatch.setenv("MESHLINE_MEMORY_URL", MEMORY_URL)
    memory = create_memory(MemorySettings(chroma_path=tmp_path / "chroma", worker_block_ms=50), embedder=embedder)
    agent = create_agent(RetrievalSettings())
    llm = ScriptedModel("")
    memory_transport = httpx.ASGITransport(app=memory)

    async def to_memory(request: httpx.Request) -> httpx.Response:
        response = await memory_transport.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async with memory.router.lifespan_context(memory), agent.router.lifespan_context(agent):
        with respx.mock(assert_all_called=False) as router:
            router.get(f"{LLM_URL}/healthz").respond(200, json={"status": "ok"})
            router.post(f"{LLM_URL}{COMPLETIONS}").mock(side_effect=llm)
            router.route(host="memory.test").mock(side_effect=to_memory)
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=agent), base_url="http://knowledge.test") as http,
                httpx.AsyncClient() as memory_http,
            ):
                writer = {
                    "authorization": f"Bearer {issue_token('memory', scopes=('knowledge:write', 'knowledge:read'))}"
                }
                await ingest_knowledge(memory_http, writer)
                yield Harness(agent=http, memory=memory_http, llm=llm, token=issue_token)
