"""Text encoders shared by the router and the memory service.

The bundled all-MiniLM-L6-v2 runs on CPU (:class:`TracedQueryEncoder` on the request path,
:class:`LocalEmbedder` adding sentence-transformers for bulk); any other model goes through
litellm (:class:`LiteLLMEmbedder`). :func:`load_embedder` builds one from
:class:`EmbeddingSettings`. Every vector is unit length. Chroma's adapter is
:mod:`meshline.embeddings.chroma`, imported only by the vector store (it imports chromadb).
"""

from meshline.embeddings.base import Embedder
from meshline.embeddings.bundled import MINILM_MAX_TOKENS, bundled_model_dir
from meshline.embeddings.loading import load_embedder
from meshline.embeddings.local import LocalEmbedder
from meshline.embeddings.remote import LiteLLMEmbedder
from meshline.embeddings.settings import LOCAL_EMBEDDING_MODEL, EmbeddingSettings, EmbedPrecision
from meshline.embeddings.traced import TracedQueryEncoder

__all__ = [
    "LOCAL_EMBEDDING_MODEL",
    "MINILM_MAX_TOKENS",
    "EmbedPrecision",
    "Embedder",
    "EmbeddingSettings",
    "LiteLLMEmbedder",
    "LocalEmbedder",
    "TracedQueryEncoder",
    "bundled_model_dir",
    "load_embedder",
]
