"""The encoder contract every embedder keeps: :class:`Embedder`.

Vectors are always L2-normalised, so cosine similarity is a dot product for every caller. The
async ``embed`` keeps model work off the event loop; ``embed_sync`` is the blocking variant
(what Chroma's embedding-function protocol calls, see :mod:`meshline.embeddings.chroma`).
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def normalised(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Embedder(ABC):
    """Embeds texts in batches: ``await embed(texts)`` on the request path, ``embed_sync`` when blocking is fine."""

    def __init__(self, model: str, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text, in order."""
        vectors: list[list[float]] = []
        for chunk in chunks(texts, self.batch_size):
            vectors.extend(await self._aencode(chunk))
        return vectors

    async def embed_bulk(self, texts: Sequence[str]) -> list[list[float]]:
        """Like :meth:`embed`, for many texts at once (ingestion): implementations may trade
        latency for throughput here. The vectors are the same up to float noise."""
        return await self.embed(texts)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking variant (Chroma calls embedding functions synchronously)."""
        vectors: list[list[float]] = []
        for chunk in chunks(texts, self.batch_size):
            vectors.extend(self._encode(chunk))
        return vectors

    def ready(self) -> bool:
        """Whether the model is loaded and not closed."""
        return True

    def close(self) -> None:  # noqa: B027 - an optional hook: remote models hold nothing to release
        """Release the model (nothing to do for remote models)."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> list[list[float]]: ...

    async def _aencode(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)
