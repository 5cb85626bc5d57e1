"""Meshline: a multi-agent LLM orchestrator made of microservices.

The public Python surface is the SDK: ``meshline.Client`` and ``meshline.AsyncClient``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AsyncClient", "Client", "__version__"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from meshline.sdk import AsyncClient, Client


def __getattr__(name: str) -> Any:
    # Lazy so that services importing meshline.* do not pay for the SDK import.
    if name in ("Client", "AsyncClient"):
        from meshline import sdk

        return getattr(sdk, name)
    raise AttributeError(name)
