"""The router's embedder, loaded once in the background when the orchestrator starts.

Embedding in-process (rather than calling the memory service) saves an HTTP hop per turn. The
model is the memory service's all-MiniLM-L6-v2 (same weights, mean-pooled, normalised), but run
on a leaner path than sentence-transformers' ``encode``, because one short message per turn is
all the router embeds and the fixed per-call overhead is most of its cost:

- the transformer is traced to TorchScript under bfloat16 autocast and frozen, so the weights
  are folded to bf16 constants once and the per-op Python dispatch is gone (on the 2-core
  development machine: ~13 ms -> ~7 ms per message; cosine to the fp32 vectors >= 0.9999);
- one torch thread (DESIGN.md, environment facts: ~10x faster than the default on a busy box);
- an LRU cache of message vectors, since greetings and thanks repeat a lot.

Any other configured model (a litellm embedding model) goes through the memory service's class.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from meshline.errors import ServiceUnavailable
from meshline.memory.embeddings import Embedder, bundled_model_dir, load_embedder
from meshline.memory.settings import LOCAL_EMBEDDING_MODEL, MemorySettings

MAX_TOKENS = 128  # routing reads the start of a message; the model was trained on 128 tokens
TRACE_TEXTS = ["a padded batch, so the traced graph keeps the attention mask", "hi"]


class TracedMiniLM(Embedder):
    """all-MiniLM-L6-v2 as a frozen TorchScript graph (bf16 autocast where the CPU has it), for short texts.

    Loading traces the model (about a second). Calls are serialised by a lock: the fast
    tokenizer refuses concurrent use, and one thread per call is the fastest setting here.
    """

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        super().__init__(LOCAL_EMBEDDING_MODEL, batch_size)
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(1)
        directory = str(model_dir or bundled_model_dir())
        self._torch = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(directory)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers' own deprecations, not ours to fix
            model = AutoModel.from_pretrained(directory).eval()
        self._graph: Any = self._trace(_mean_pooled(model, torch))
        self._lock = threading.Lock()

    def _trace(self, module: Any) -> Any:
        torch = self._torch
        sample = self._tokenizer(TRACE_TEXTS, padding=True, return_tensors="pt")
        # bf16 pays only where the CPU computes it natively (AVX-512 BF16, AMX); elsewhere it is
        # emulated and slower than fp32, so trace in fp32 there.
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        # Tracing under autocast needs the JIT's own autocast pass off; restore it afterwards.
        previous = torch._C._jit_set_autocast_mode(False)
        try:
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
            with warnings.catch_warnings(), torch.inference_mode(), autocast:
                # The tracer flags two Python branches in transformers' masking; both are constant
                # for an encoder given a mask (tested: batched and single vectors agree).
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", FutureWarning)  # the tracer reads deprecated model attributes
                traced = torch.jit.trace(
                    module, (sample["input_ids"], sample["attention_mask"]), check_trace=False, strict=False
                )
                return torch.jit.freeze(traced.eval())
        finally:
            torch._C._jit_set_autocast_mode(previous)

    def ready(self) -> bool:
        return self._graph is not None

    def close(self) -> None:
        self._graph = None

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self._graph is None:
            raise ServiceUnavailable("the routing embedder is closed", code="model_closed")
        with self._lock, self._torch.inference_mode():
            batch = self._tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            vectors = self._graph(batch["input_ids"], batch["attention_mask"])
        return cast(list[list[float]], vectors.float().numpy().tolist())


def _mean_pooled(model: Any, torch: Any) -> Any:
    """transformer -> mask-weighted mean of the token states -> unit length (sentence-transformers' recipe)."""

    class MeanPooled(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    return MeanPooled().eval()


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
