"""Memory service: user memories and knowledge bases, in per-tenant Chroma collections.

Two domains side by side, sharing the embedding model, the Chroma client
(:mod:`meshline.memory.chroma`) and the Redis stream consumer
(:mod:`meshline.memory.stream_consumer`):

- :mod:`meshline.memory.memories`: a user's memories (``/v1/memories``), written through a stream;
- :mod:`meshline.memory.knowledge_bases`: a tenant's collections of documents (``/v1/collections``,
  ``/v1/jobs``, ``/v1/search``), ingested through a stream and a parse sandbox.

Entry points: :func:`meshline.memory.app.create_app`, :class:`meshline.memory.settings.MemorySettings`;
``python -m meshline.memory`` runs it. This package imports nothing on import: the parse sandbox's
worker process imports a module of it and must stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.memory.app import create_app
    from meshline.memory.settings import MemorySettings

__all__ = ["MemorySettings", "create_app"]
__getattr__ = lazy_exports(
    __name__, {"MemorySettings": "meshline.memory.settings", "create_app": "meshline.memory.app"}
)
