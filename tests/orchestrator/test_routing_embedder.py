"""The router's traced MiniLM: the memory service's vectors within bf16 noise, batched or not, cached."""

from __future__ import annotations

import numpy as np

from meshline.embeddings import EmbeddingSettings, LocalEmbedder
from meshline.orchestrator.routing import RouteEmbedder, TracedMiniLM

MESSAGES = [
    "where is my order 1042?",
    "I forgot my password",
    "hi",
    "What is your refund policy for sale items bought during the summer promotion?",
]


def test_traced_vectors_match_sentence_transformers_batched_or_single(minilm: TracedMiniLM) -> None:
    reference = np.asarray(LocalEmbedder().embed_sync(MESSAGES))
    batched = np.asarray(minilm.embed_sync(MESSAGES))  # padded to the longest message
    single = np.asarray([minilm.embed_sync([m])[0] for m in MESSAGES])
    assert batched.shape == (len(MESSAGES), 384)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-4)
    assert (batched * reference).sum(axis=1).min() > 0.999
    assert (batched * single).sum(axis=1).min() > 0.999
    assert len(minilm.embed_sync(["please help me " * 300])[0]) == 384  # truncated, not rejected


class CountingMiniLM(TracedMiniLM):
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, model: TracedMiniLM) -> None:
        self.__dict__.update(model.__dict__)
        self.texts: list[str] = []

    def _encode(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return super()._encode(texts)


async def test_repeated_messages_come_from_the_lru_cache(minilm: TracedMiniLM) -> None:
    counting = CountingMiniLM(minilm)
    embedder = RouteEmbedder(EmbeddingSettings(), counting, cache_size=2)
    first = await embedder.embed(["hi", "thanks", "hi"])
    assert counting.texts == ["hi", "thanks"] and first[0] == first[2]
    assert await embedder.embed(["thanks"]) == [first[1]]
    await embedder.embed(["bye"])  # evicts the least recently used: "hi"
    await embedder.embed(["hi", "thanks"])
    assert counting.texts == ["hi", "thanks", "bye", "hi"]
    off = RouteEmbedder(EmbeddingSettings(), counting, cache_size=0)
    await off.embed(["hi"])
    await off.embed(["hi"])
    assert counting.texts[-2:] == ["hi", "hi"]
