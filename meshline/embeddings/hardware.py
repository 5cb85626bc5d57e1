"""What the CPU offers the local encoders: usable cores and native bfloat16."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the host's count). A CPU quota
    (Kubernetes limits) is not visible here: set ``bulk_threads`` (the memory service's
    ``embed_bulk_threads``) to match it."""
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
