"""The kit's client of the memory service's knowledge-base search."""

from __future__ import annotations

from meshline.contracts import SearchHit, SearchRequest, SearchResult
from meshline.resilience import CallPipeline

MEMORY_TARGET = "memory"  # the breaker's name for the memory service
MAX_QUERY_CHARS = 8000


class KnowledgeClient:
    """``POST {memory_url}/v1/search`` with the task's memory token (audience ``memory``, ``knowledge:read``).

    Through the agent's pipeline: a memory service that keeps failing trips the ``memory``
    breaker, and searches fail fast until it recovers.
    """

    def __init__(self, pipeline: CallPipeline, memory_url: str, timeout_s: float) -> None:
        self._pipeline = pipeline
        self.memory_url = memory_url.rstrip("/")
        self.timeout_s = timeout_s

    async def search(self, query: str, collection: str, k: int, *, token: str | None) -> list[SearchHit]:
        request = SearchRequest(query=query[:MAX_QUERY_CHARS], collection=collection, k=k, mode="hybrid")
        response = await self._pipeline.request(
            MEMORY_TARGET,
            "POST",
            f"{self.memory_url}/v1/search",
            json=request.model_dump(exclude_none=True),
            token=token,
            timeout_s=self.timeout_s,
            idempotent=True,
        )
        return SearchResult.model_validate(response.json()).hits
