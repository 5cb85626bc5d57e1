"""An :class:`~meshline.embeddings.Embedder` as Chroma's embedding function (the memory service's vector store).

Kept apart from the encoders so that importing them does not import chromadb (about a second),
which the orchestrator never needs.
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from meshline.embeddings.base import Embedder
from meshline.embeddings.settings import LOCAL_EMBEDDING_MODEL
from meshline.json_types import JsonObject

EMBEDDING_FUNCTION_NAME = "meshline"


class StoredConfigEmbedder(Embedder):
    """What Chroma rebuilds from a collection's stored config: names the model, never embeds."""

    def _encode(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError("Meshline passes embeddings to Chroma explicitly; this placeholder never embeds")


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma's protocol over an embedder, so Chroma never falls back to its default (which downloads one)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - chromadb's parameter name
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embedder.embed_sync(list(input))]

    @staticmethod
    def name() -> str:
        return EMBEDDING_FUNCTION_NAME

    def get_config(self) -> JsonObject:
        return {"model": self.embedder.model, "batch_size": self.embedder.batch_size}

    @staticmethod
    def build_from_config(config: JsonObject) -> ChromaEmbeddingFunction:
        # Chroma calls this while validating every upsert and query (it deserialises the
        # collection's schema each time). Loading a model here cost ~80% of an upsert, and
        # the store always passes vectors itself, so hand back a placeholder that loads nothing.
        model = str(config.get("model", LOCAL_EMBEDDING_MODEL))
        return ChromaEmbeddingFunction(StoredConfigEmbedder(model, int(config.get("batch_size", 32))))

    def default_space(self) -> Any:
        return "cosine"
