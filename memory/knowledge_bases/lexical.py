"""Lexical (BM25) retrieval over a knowledge-base collection, and reciprocal rank fusion.

BM25 comes from ``bm25s`` (sparse-matrix scoring in numpy/scipy, with the Snowball English
stemmer from PyStemmer). Chroma stays the only store: an index is built in memory from a
collection's chunks and cached per collection under a *generation* counter kept in Redis,
which the ingestion worker bumps after every write. Every replica of the memory service sees
the bump and rebuilds on its next search, so no replica serves a stale index for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from meshline.memory.knowledge_bases.store import KnowledgeBaseStore, StoredChunk

GENERATION_KEY = "meshline:memory:kbgen:"


def _tokenizer() -> Any:
    import Stemmer  # PyStemmer: imported on first index build, not at import time

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str], stemmer: Any) -> list[list[str]]:
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False
    )
    return tokens


@dataclass
class LexicalIndex:
    """A BM25 index over chunks, with their ids and metadata in index order."""

    chunks: list[StoredChunk]
    retriever: Any
    stemmer: Any
    generation: int
    by_id: dict[str, StoredChunk] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.chunks}

    @classmethod
    def build(cls, chunks: list[StoredChunk], generation: int) -> LexicalIndex:
        import bm25s

        stemmer = _tokenizer()
        retriever = bm25s.BM25()
        if chunks:
            retriever.index(
                bm25s.tokenize([c.text for c in chunks], stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False,
            )
        return cls(chunks, retriever, stemmer, generation)

    def search(self, query: str, n: int, allowed: set[str] | None = None) -> list[StoredChunk]:
        """The ``n`` best chunks by BM25 score (> 0), restricted to ``allowed`` ids when given."""
        if not self.chunks:
            return []
        [tokens] = tokenize([query], self.stemmer)
        if not tokens:
            return []
        scores = np.asarray(self.retriever.get_scores(tokens), dtype=np.float64)
        if allowed is not None:
            mask = np.fromiter((c.id in allowed for c in self.chunks), dtype=bool, count=len(self.chunks))
            scores = np.where(mask, scores, 0.0)
        n = min(n, len(self.chunks))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        out = []
        for i in top:
            if scores[i] <= 0:
                break
            chunk = self.chunks[int(i)]
            out.append(StoredChunk(chunk.id, chunk.text, chunk.metadata, float(scores[i])))
        return out


class LexicalIndexes:
    """One cached :class:`LexicalIndex` per collection, rebuilt when its generation moves."""

    def __init__(self, store: KnowledgeBaseStore, redis: aioredis.Redis) -> None:
        self.store = store
        self.redis = redis
        self._indexes: dict[str, LexicalIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def bump(self, chroma_name: str) -> None:
        """Mark a collection's index stale everywhere (call after writing to it)."""
        await self.redis.incr(GENERATION_KEY + chroma_name)

    async def forget(self, chroma_name: str) -> None:
        """Drop this replica's index of a deleted collection now, and mark it stale everywhere."""
        self._indexes.pop(chroma_name, None)
        await self.bump(chroma_name)

    async def _generation(self, chroma_name: str) -> int:
        # Only the counter, no chunk count: a count is a store round trip on every search. Every
        # write bumps after it lands (a worker that dies in between is redelivered and bumps then),
        # and a flushed Redis resets the counter, which also differs from the cached value.
        return int(await self.redis.get(GENERATION_KEY + chroma_name) or 0)

    async def index(self, tenant: str, name: str) -> LexicalIndex:
        chroma_name = self.store.chroma_name(tenant, name)
        generation = await self._generation(chroma_name)
        cached = self._indexes.get(chroma_name)
        if cached is not None and cached.generation == generation:
            return cached
        lock = self._locks.setdefault(chroma_name, asyncio.Lock())
        async with lock:
            cached = self._indexes.get(chroma_name)
            if cached is not None and cached.generation == generation:
                return cached
            chunks = await self.store.all_chunks(tenant, name)
            built = await asyncio.to_thread(LexicalIndex.build, chunks, generation)
            self._indexes[chroma_name] = built
            return built


def reciprocal_rank_fusion(rankings: Sequence[Sequence[StoredChunk]], k: int) -> list[StoredChunk]:
    """Fuse ranked lists: score(d) = sum over lists of 1 / (k + rank(d)), rank from 1."""
    scores: dict[str, float] = {}
    first: dict[str, StoredChunk] = {}
    for ranking in rankings:
        for rank, chunk in enumerate(ranking, start=1):
            scores[chunk.id] = scores.get(chunk.id, 0.0) + 1.0 / (k + rank)
            first.setdefault(chunk.id, chunk)
    ordered = sorted(scores, key=lambda i: scores[i], reverse=True)
    return [StoredChunk(i, first[i].text, first[i].metadata, scores[i]) for i in ordered]
