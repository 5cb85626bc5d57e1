"""What builds an encoder: :class:`EmbeddingSettings`, a plain model every service fills from its own settings.

It reads no environment itself: the memory service builds it from ``MESHLINE_MEMORY_EMBEDDING_*``
/ ``MESHLINE_MEMORY_EMBED_*`` and the orchestrator from ``MESHLINE_ORCHESTRATOR_ROUTE_EMBEDDING_*``,
so neither process reads the other's variables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

LOCAL_EMBEDDING_MODEL = "local"
EmbedPrecision = Literal["auto", "float32", "bfloat16"]


class EmbeddingSettings(BaseModel):
    """Which model embeds, and how: ``local`` is the bundled all-MiniLM-L6-v2 on CPU, anything else a litellm model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        default=LOCAL_EMBEDDING_MODEL,
        description="'local' = bundled all-MiniLM-L6-v2 on CPU; anything else = a litellm embedding model.",
    )
    api_base: str | None = Field(default=None, description="litellm model: the provider's URL.")
    api_key: SecretStr | None = Field(default=None, description="litellm model: the provider's key.")
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one litellm embedding call.")
    batch_size: int = Field(default=32, ge=1, le=2048, description="Texts per model call.")
    precision: EmbedPrecision = Field(
        default="auto",
        description="Local model: 'auto' = bfloat16 autocast where the CPU has native bf16, else float32.",
    )
    bulk_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Local model: torch threads for bulk batches (0 = every core this process may use).",
    )

    @property
    def is_local(self) -> bool:
        """Whether this is the bundled model (which runs in this process)."""
        return self.model == LOCAL_EMBEDDING_MODEL
