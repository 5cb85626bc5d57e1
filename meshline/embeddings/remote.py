"""Any embedding model litellm can call (OpenAI, Bedrock, Ollama, vLLM, ...)."""

from __future__ import annotations

from typing import Any

from meshline.embeddings.base import Embedder, normalised
from meshline.errors import UpstreamError
from meshline.json_types import JsonObject


class LiteLLMEmbedder(Embedder):
    """A provider's embedding model through litellm; its vectors are normalised like the local ones."""

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 32,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        super().__init__(model, batch_size)
        self._api_base = api_base
        self._api_key = api_key
        self._timeout_s = timeout_s

    def _kwargs(self, texts: list[str]) -> JsonObject:
        return {
            "model": self.model,
            "input": texts,
            "timeout": self._timeout_s,
            "api_base": self._api_base,
            "api_key": self._api_key,
        }

    @staticmethod
    def _vectors(response: Any) -> list[list[float]]:
        items = [item if isinstance(item, dict) else item.model_dump() for item in response.data]
        items.sort(key=lambda item: int(item.get("index", 0)))
        return [normalised(item["embedding"]) for item in items]

    def _encode(self, texts: list[str]) -> list[list[float]]:
        import litellm

        if not texts:
            return []
        try:
            return self._vectors(litellm.embedding(**self._kwargs(texts)))
        except Exception as exc:
            raise UpstreamError(f"embedding model {self.model!r} failed: {exc}", code="embedding_failed") from exc

    async def _aencode(self, texts: list[str]) -> list[list[float]]:
        import litellm

        if not texts:
            return []
        try:
            return self._vectors(await litellm.aembedding(**self._kwargs(texts)))
        except Exception as exc:
            raise UpstreamError(f"embedding model {self.model!r} failed: {exc}", code="embedding_failed") from exc
