"""The router's embedder, loaded once in the background when the orchestrator starts.

Embedding in-process (rather than calling the memory service) saves an HTTP hop per turn. The
model is the shared all-MiniLM-L6-v2 on its request-path encoder
(:class:`~meshline.embeddings.TracedQueryEncoder`: a frozen TorchScript graph, bf16 autocast
where the CPU has it, one torch thread; ~7 ms per message), cut at 128 tokens, plus an LRU cache
of message vectors, since greetings and thanks repeat a lot.

Any other configured model (a litellm embedding model) goes through :func:`meshline.embeddings.load_embedder`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from meshline.embeddings import Embedder, EmbeddingSettings, TracedQueryEncoder, load_embedder
from meshline.errors import ServiceUnavailable

MAX_TOKENS = 128  # routing reads the start of a message; the model was trained on 128 tokens


class TracedMiniLM(TracedQueryEncoder):
    """The router's MiniLM: the shared traced encoder, cut at :data:`MAX_TOKENS`."""

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        super().__init__(model_dir, batch_size, max_tokens=MAX_TOKENS)


def load_route_embedder(settings: EmbeddingSettings) -> Embedder:
    """The traced MiniLM for ``local``, else the configured litellm model (blocking)."""
    if settings.is_local:
        return TracedMiniLM(batch_size=settings.batch_size)
    return load_embedder(settings)


class RouteEmbedder:
    """Starts loading on :meth:`start`; ``embed`` waits for the load, ``ready`` checks it.

    ``embedder`` is one already loaded (benchmarks and tests share one); ``cache_size`` bounds the
    LRU cache of message vectors (0 turns it off, as the benchmark does so that every message
    pays for its embedding).
    """

    def __init__(self, settings: EmbeddingSettings, embedder: Embedder | None = None, cache_size: int = 2048) -> None:
        self.settings = settings
        self.cache_size = cache_size
        self._embedder = embedder  # already loaded (benchmarks and tests share one)
        self._task: asyncio.Task[Embedder] | None = None
        self._cache: OrderedDict[str, list[float]] = OrderedDict()

    @property
    def model(self) -> str:
        """The model's name (it keys the index's vector cache)."""
        return self.settings.model

    def start(self) -> None:
        if self._task is None and self._embedder is None:
            self._task = asyncio.create_task(
                asyncio.to_thread(load_route_embedder, self.settings), name="load-route-embedder"
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
