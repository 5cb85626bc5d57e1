"""Build the configured encoder: :func:`load_embedder`."""

from __future__ import annotations

from meshline.embeddings.base import Embedder
from meshline.embeddings.local import LocalEmbedder
from meshline.embeddings.remote import LiteLLMEmbedder
from meshline.embeddings.settings import EmbeddingSettings


def load_embedder(settings: EmbeddingSettings) -> Embedder:
    """The bundled model for ``local``, else litellm's (blocking: loads weights; call it via ``asyncio.to_thread``)."""
    if settings.is_local:
        return LocalEmbedder(
            batch_size=settings.batch_size, precision=settings.precision, bulk_threads=settings.bulk_threads
        )
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return LiteLLMEmbedder(
        settings.model,
        batch_size=settings.batch_size,
        api_base=settings.api_base,
        api_key=key,
        timeout_s=settings.timeout_s,
    )
