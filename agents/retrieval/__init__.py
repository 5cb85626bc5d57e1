"""The knowledge agent: answers store-policy and how-to questions from the knowledge base, with citations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.agents.retrieval.manifest import manifest

__all__ = ["manifest"]
__getattr__ = lazy_exports(
    __name__,
    {
        "manifest": "meshline.agents.retrieval.manifest",
    },
)
