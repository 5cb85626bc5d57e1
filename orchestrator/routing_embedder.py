"""The router's embedder, loaded once in the background when the orchestrator starts.

Embedding in-process (rather than calling the memory service) saves an HTTP hop per turn. The
model is the memory service's all-MiniLM-L6-v2 on its request-path encoder
(:class:`~meshline.memory.embeddings.TracedQueryEncoder`: a frozen TorchScript graph, bf16
autocast where the CPU has it, one torch thread; ~7 ms per message), cut at 128 tokens, plus an
LRU cache of message vectors, since greetings and thanks repeat a lot.

Any other configured model (a litellm embedding model) goes through the memory service's class.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from meshline.errors import ServiceUnavailable
from meshline.memory.embeddings import Embedder, TracedQueryEncoder, load_embedder
from meshline.memory.settings import LOCAL_EMBEDDING_MODEL, MemorySettings

MAX_TOKENS = 128  # routing reads the start of a message; the model was trained on 128 tokens


class TracedMiniLM(TracedQueryEncoder):
    """The router's MiniLM: the memory service's traced encoder, cut at :data:`MAX_TOKENS`."""

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        super().__init__(model_dir, batch_size, max_tokens=MAX_TOKENS)


def load_route_embedder(model: str) -> Embedder:
    """The traced MiniLM for ``local``, else the memory service's embedder for that model (blocking)."""
    if model == LOCAL_EMBEDDING_MODEL:
        return TracedMiniLM()
    return load_embedder(MemorySettings(embedding_model=model))


class RouteEmbedder:
    """Starts loading on :meth:`start`; ``embed`` waits for the load, ``ready`` checks it.

    ``cache_size`` bounds the LRU cache of message vectors (0 turns it off, as the benchmark does
    so that every message pays for its embedding).
    """

    def __init__(self, model: str, embedder: Embedder | None = None, cache_size: int = 2048) -> None:
        self.model = model
        self.cache_size = cache_size
        self._embedder = embedder  # already loaded (benchmarks and tests share one)
        self._task: asyncio.Task[Embedder] | None = None
        self._cache: OrderedDict[str, list[float]] = OrderedDict()

    def start(self) -> None:
        if self._task is None and self._embedder is None:
            self._task = asyncio.create_task(
                asyncio.to_thread(load_route_embedder, self.model), name="load-route-embedder"
            )

    async def loaded(self) -> Embedder:
        if self._embedder is not None:
            return self._embedder
        if self._task is None:
            raise ServiceUnavailable("the routing embedder was not started", code="router_not_ready")
        return await asyncio.shield(self._task)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text; repeated texts come from the LRU cache."""
        found = {t: self._hit(t) for t in dict.fromkeys(texts) if t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        fresh = await (await self.loaded()).embed(missing) if missing else []
        for text, vector in zip(missing, fresh, strict=True):
            found[text] = vector
            self._remember(text, vector)
        return [found[t] for t in texts]

    def clear_cache(self) -> None:
        self._cache.clear()

    def _hit(self, text: str) -> list[float]:
        self._cache.move_to_end(text)
        return self._cache[text]

    def _remember(self, text: str, vector: list[float]) -> None:
        if self.cache_size <= 0:
            return
        self._cache[text] = vector
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

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
