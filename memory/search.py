"""``POST /v1/search``: dense, lexical (BM25) or hybrid (both fused by reciprocal rank) retrieval."""

from __future__ import annotations

from chromadb.api.types import validate_where

from meshline.contracts.knowledge import SearchHit, SearchRequest
from meshline.errors import Unprocessable
from meshline.memory.embeddings import Embedder
from meshline.memory.knowledge import KnowledgeStore, StoredChunk
from meshline.memory.lexical import LexicalIndexes, reciprocal_rank_fusion


def to_hit(chunk: StoredChunk, dense_scores: dict[str, float]) -> SearchHit:
    meta = chunk.metadata
    return SearchHit(
        id=chunk.id,
        document_id=str(meta.get("doc_id", chunk.id.rpartition("#")[0] or chunk.id)),
        title=str(meta.get("title", "")),
        score=chunk.score,
        dense_score=dense_scores.get(chunk.id),
        text=chunk.text,
        metadata=meta,
    )


class KnowledgeSearch:
    """Searches one tenant's collection; every retriever sees the same metadata filter."""

    def __init__(
        self, store: KnowledgeStore, lexical: LexicalIndexes, embedder: Embedder, candidates: int, rrf_k: int
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k

    async def _dense(self, tenant: str, request: SearchRequest, n: int) -> list[StoredChunk]:
        [vector] = await self.embedder.embed([request.query])
        return await self.store.dense(tenant, request.collection, vector, n, request.where)

    async def _lexical(self, tenant: str, request: SearchRequest, n: int) -> list[StoredChunk]:
        index = await self.lexical.index(tenant, request.collection)
        allowed = await self.store.matching_ids(tenant, request.collection, request.where) if request.where else None
        return index.search(request.query, n, allowed)

    async def search(self, tenant: str, request: SearchRequest) -> list[SearchHit]:
        """Hits for ``request``; an invalid filter is a 422, not a store error."""
        if request.where:
            try:
                validate_where(request.where)
            except ValueError as exc:
                raise Unprocessable(f"invalid metadata filter: {exc}", code="invalid_filter") from exc
        if await self.store.count(tenant, request.collection) == 0:
            return []
        if request.mode == "dense":
            dense = await self._dense(tenant, request, request.k)
            return [to_hit(c, {c.id: c.score}) for c in dense]
        if request.mode == "lexical":
            return [to_hit(c, {}) for c in await self._lexical(tenant, request, request.k)]
        depth = max(self.candidates, request.k)
        dense = await self._dense(tenant, request, depth)
        lexical = await self._lexical(tenant, request, depth)
        dense_scores = {c.id: c.score for c in dense}
        fused = reciprocal_rank_fusion([dense, lexical], self.rrf_k)[: request.k]
        return [to_hit(c, dense_scores) for c in fused]
