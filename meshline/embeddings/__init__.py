"""Text encoders shared by the router and the memory service.

The bundled all-MiniLM-L6-v2 runs on CPU (:class:`TracedQueryEncoder` on the request path,
:class:`LocalEmbedder` adding sentence-transformers for bulk); any other model goes through
litellm (:class:`LiteLLMEmbedder`). :func:`load_embedder` builds one from
:class:`EmbeddingSettings`. Every vector is unit length. Chroma's adapter is
:mod:`meshline.embeddings.chroma`, imported only by the vector store (it imports chromadb).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.embeddings.base import Embedder
    from meshline.embeddings.bundled import MINILM_MAX_TOKENS, bundled_model_dir
    from meshline.embeddings.chroma import ChromaEmbeddingFunction
    from meshline.embeddings.loading import load_embedder
    from meshline.embeddings.local import LocalEmbedder
    from meshline.embeddings.remote import LiteLLMEmbedder
    from meshline.embeddings.settings import LOCAL_EMBEDDING_MODEL, EmbeddingSettings, EmbedPrecision
    from meshline.embeddings.traced import TracedQueryEncoder

__all__ = [
    "ChromaEmbeddingFunction",
    "EmbedPrecision",
    "Embedder",
    "EmbeddingSettings",
    "LOCAL_EMBEDDING_MODEL",
    "LiteLLMEmbedder",
    "LocalEmbedder",
    "MINILM_MAX_TOKENS",
    "TracedQueryEncoder",
    "bundled_model_dir",
    "load_embedder",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "ChromaEmbeddingFunction": "meshline.embeddings.chroma",
        "EmbedPrecision": "meshline.embeddings.settings",
        "Embedder": "meshline.embeddings.base",
        "EmbeddingSettings": "meshline.embeddings.settings",
        "LOCAL_EMBEDDING_MODEL": "meshline.embeddings.settings",
        "LiteLLMEmbedder": "meshline.embeddings.remote",
        "LocalEmbedder": "meshline.embeddings.local",
        "MINILM_MAX_TOKENS": "meshline.embeddings.bundled",
        "TracedQueryEncoder": "meshline.embeddings.traced",
        "bundled_model_dir": "meshline.embeddings.bundled",
        "load_embedder": "meshline.embeddings.loading",
    },
)
