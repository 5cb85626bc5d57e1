"""Memory service: per-tenant Chroma collections of user memories, embeddings, the write-stream worker.

Entry points: :func:`meshline.memory.app.create_app`, :class:`meshline.memory.settings.MemorySettings`;
``python -m meshline.memory`` runs it.
"""
