"""The router's embedder, loaded once in the background when the orchestrator starts.

Embedding in-process (rather than calling the memory service) saves an HTTP hop per turn —
the difference between meeting and missing the routing latency target (see DESIGN.md). The
model is the memory service's: the same class, the same weights, the same normalised vectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from meshline.errors import ServiceUnavailable
from meshline.memory.embeddings import Embedder, load_embedder
from meshline.memory.settings import MemorySettings


class RouteEmbedder:
    """Starts loading on :meth:`start`; ``embed`` waits for the load, ``ready`` checks it."""

    def __init__(self, model: str, embedder: Embedder | None = None) -> None:
        self.model = model
        self._embedder = embedder  # already loaded (benchmarks and tests share one)
        self._task: asyncio.Task[Embedder] | None = None

    def start(self) -> None:
        if self._task is None and self._embedder is None:
            settings = MemorySettings(embedding_model=self.model)
            self._task = asyncio.create_task(asyncio.to_thread(load_embedder, settings), name="load-route-embedder")

    async def loaded(self) -> Embedder:
        if self._embedder is not None:
            return self._embedder
        if self._task is None:
            raise ServiceUnavailable("the routing embedder was not started", code="router_not_ready")
        return await asyncio.shield(self._task)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await (await self.loaded()).embed(texts)

    async def ready(self) -> None:
        """Readiness check: raises until the model is loaded."""
        if self._embedder is not None:
            return
        if self._task is None or not self._task.done():
            raise ServiceUnavailable("the routing embedder is still loading", code="router_loading")
        self._task.result()  # re-raises a failed load

    async def close(self) -> None:
        if self._task is not None:
            embedder = await asyncio.shield(self._task)  # a load in flight cannot be interrupted
            embedder.close()
