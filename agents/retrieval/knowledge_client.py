"""The memory service's knowledge-base search, as the knowledge agent uses it."""

from __future__ import annotations

from meshline.contracts.knowledge_bases import SearchHit, SearchRequest, SearchResult
from meshline.resilience import ServiceClient, raise_for_problem


class KnowledgeBase:
    """``POST {memory_url}/v1/search`` with the task's memory token (audience ``memory``, ``knowledge:read``)."""

    def __init__(self, client: ServiceClient, memory_url: str, timeout_s: float) -> None:
        self.client = client
        self.memory_url = memory_url.rstrip("/")
        self.timeout_s = timeout_s

    async def search(self, query: str, collection: str, k: int, *, token: str | None) -> list[SearchHit]:
        request = SearchRequest(query=query[:8000], collection=collection, k=k, mode="hybrid")
        response = await self.client.request(
            "POST",
            f"{self.memory_url}/v1/search",
            json=request.model_dump(exclude_none=True),
            token=token,
            timeout_s=self.timeout_s,
            idempotent=True,
        )
        raise_for_problem(response)
        return SearchResult.model_validate(response.json()).hits
