"""all-MiniLM-L6-v2 as a frozen TorchScript graph: the request-path encoder of the router and the memory service."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, cast

from meshline.embeddings.base import Embedder
from meshline.embeddings.bundled import MINILM_MAX_TOKENS, bundled_model_dir
from meshline.embeddings.hardware import bf16_is_native
from meshline.embeddings.settings import LOCAL_EMBEDDING_MODEL
from meshline.errors import ServiceUnavailable

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
    router (:mod:`meshline.orchestrator.routing.embedder`) and :class:`~meshline.embeddings.LocalEmbedder`
    share this class. Loading traces the model (about a second).
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
