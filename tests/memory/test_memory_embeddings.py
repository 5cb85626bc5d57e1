"""Embedders: the bundled MiniLM (async and as Chroma's embedding function) and litellm models."""

from __future__ import annotations

import asyncio
import math

import numpy as np

from meshline.embeddings import LiteLLMEmbedder, LocalEmbedder, TracedQueryEncoder, load_embedder
from meshline.embeddings.chroma import EMBEDDING_FUNCTION_NAME, ChromaEmbeddingFunction
from meshline.memory.settings import MemorySettings


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


async def test_local_embedder_batches_without_changing_vectors(embedder: LocalEmbedder) -> None:
    texts = [f"customer question number {i}" for i in range(70)]  # three batches of 32
    batched = await embedder.embed(texts)
    assert len(batched) == 70
    assert all(len(v) == 384 and abs(_norm(v) - 1.0) < 1e-4 for v in batched)
    [single] = await embedder.embed([texts[45]])
    assert max(abs(a - b) for a, b in zip(single, batched[45], strict=True)) < 1e-4
    assert await embedder.embed([]) == []


async def test_local_embedder_serves_concurrent_callers(embedder: LocalEmbedder) -> None:
    texts = ["refund my order", "change my address", "talk to a human", "what is my balance"]
    results = await asyncio.gather(*(embedder.embed([t]) for t in texts * 3))
    expected = await embedder.embed(texts)
    for i, [vector] in enumerate(results):
        assert max(abs(a - b) for a, b in zip(vector, expected[i % 4], strict=True)) < 1e-4


def test_local_embedder_is_chromas_embedding_function(embedder: LocalEmbedder) -> None:
    chroma = ChromaEmbeddingFunction(embedder)
    vectors = chroma(["hello world"])
    assert len(vectors) == 1 and len(vectors[0]) == 384
    assert chroma.name() == EMBEDDING_FUNCTION_NAME
    assert chroma.get_config()["model"] == "local"
    assert embedder.ready()


async def test_litellm_embedder_calls_the_provider(fake_llm_url: str) -> None:
    settings = MemorySettings(
        embedding_model="openai/text-embedding-3-small", embedding_api_base=fake_llm_url, embedding_api_key="sk-test"
    )
    embedder = load_embedder(settings.embedding())
    assert isinstance(embedder, LiteLLMEmbedder)
    vectors = await embedder.embed(["apple banana", "banana apple", "cherry"])
    assert len(vectors) == 3
    assert all(abs(_norm(v) - 1.0) < 1e-6 for v in vectors)
    assert vectors[0] == vectors[1]  # the fake provider is bag-of-words
    [sync_vector] = ChromaEmbeddingFunction(embedder)(["cherry"])  # the blocking path Chroma would use
    assert max(abs(float(a) - b) for a, b in zip(sync_vector, vectors[2], strict=True)) < 1e-6


async def test_bulk_embedding_sorts_by_length_and_returns_the_input_order(embedder: LocalEmbedder) -> None:
    texts = [("refund policy " * (i % 9 + 1)) + str(i) for i in range(40)]  # mixed lengths, two batches
    bulk = await embedder.embed_bulk(texts)
    one_by_one = [(await embedder.embed([t]))[0] for t in texts]
    assert len(bulk) == len(texts)
    assert min(sum(a * b for a, b in zip(x, y, strict=True)) for x, y in zip(bulk, one_by_one, strict=True)) > 0.999
    assert await embedder.embed_bulk([]) == []


QUERIES = [
    "0-dimensional biomaterials show inductive properties.",
    "where is my refund?",
    "Do ALDH1 positive breast cancer stem cells predict poor clinical outcome in patients?",
    "shipping " * 400,  # longer than the model's 256 tokens: cut like an ingested chunk
]


async def test_query_vectors_match_the_ingested_vectors(embedder: LocalEmbedder) -> None:
    """Search and recall embed with the traced graph, ingestion with sentence-transformers: they must agree."""
    queries = [(await embedder.embed([q]))[0] for q in QUERIES]  # one text per call, as search does
    bulk = await embedder.embed_bulk(QUERIES)
    assert min(sum(a * b for a, b in zip(q, d, strict=True)) for q, d in zip(queries, bulk, strict=True)) > 0.999
    assert embedder.embed_sync(QUERIES) == await embedder.embed(QUERIES)


def test_fp32_fallback_matches_the_ingested_vectors(embedder: LocalEmbedder) -> None:
    """Where bf16 is not native the traced graph runs in fp32: the same vectors within noise."""
    fp32 = TracedQueryEncoder(bf16=False)
    try:
        ours = np.asarray(fp32.embed_sync(QUERIES))
        ingested = np.asarray(embedder.embed_sync(QUERIES))
        assert (ours * ingested).sum(axis=1).min() > 0.999
    finally:
        fp32.close()
