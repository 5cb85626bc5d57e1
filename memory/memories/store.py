"""The user memories of every tenant: one Chroma collection (kind ``memories``) per tenant.

Inside a tenant's collection every record names its ``user`` and every read filters on it.
Record ids are ``<sha1(user)[:16]>:<id>``, so two users of a tenant may use the same memory id,
and a repeated write of an id (stream redelivery) replaces the record instead of duplicating it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from meshline.contracts import MemoryHit, MetadataScalar
from meshline.memory.chroma import TenantCollections, digest, stored_metadata
from meshline.memory.memories.models import StoredMemory

MEMORIES = "memories"
EXPORT_PAGE = 1000


def record_id(user: str, memory_id: str) -> str:
    return f"{digest(user)}:{memory_id}"


def memory_id(stored_id: str) -> str:
    return stored_id.partition(":")[2] or stored_id


@dataclass(frozen=True)
class MemoryRecord:
    """One memory as stored: caller metadata plus ``user`` and ``created_at`` (epoch seconds)."""

    id: str
    user: str
    text: str
    created_at: float
    metadata: dict[str, MetadataScalar] = field(default_factory=dict)

    def chroma_metadata(self) -> dict[str, MetadataScalar]:
        # Reserved keys are set last so caller metadata cannot forge ownership.
        return {**self.metadata, "user": self.user, "created_at": self.created_at}


class MemoryStore:
    """The user memories of every tenant (``memories`` collections)."""

    def __init__(self, collections: TenantCollections) -> None:
        self.collections = collections

    async def upsert(self, tenant: str, records: Sequence[MemoryRecord], embeddings: Sequence[list[float]]) -> None:
        """Insert or replace ``records`` (same id = same record) with their precomputed vectors."""
        if not records:
            return
        collection = await self.collections.collection(tenant, MEMORIES)
        vectors: list[Sequence[float] | Sequence[int]] = [list(e) for e in embeddings]
        await self.collections.call(
            lambda: collection.upsert(
                ids=[record_id(r.user, r.id) for r in records],
                documents=[r.text for r in records],
                embeddings=vectors,
                metadatas=[r.chroma_metadata() for r in records],
            )
        )

    async def search(self, tenant: str, user: str, embedding: list[float], k: int) -> list[MemoryHit]:
        """The ``k`` memories of ``user`` nearest to ``embedding``; score = cosine similarity."""
        collection = await self.collections.existing(tenant, MEMORIES)
        if collection is None:
            return []
        query: list[Sequence[float] | Sequence[int]] = [embedding]
        result = await self.collections.call(
            lambda: collection.query(
                query_embeddings=query,
                n_results=k,
                where={"user": user},
                include=["documents", "metadatas", "distances"],
            )
        )
        ids = result["ids"][0]
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            MemoryHit(id=memory_id(i), text=doc or "", score=1.0 - float(dist), metadata=stored_metadata(meta))
            for i, doc, meta, dist in zip(ids, documents, metadatas, distances, strict=True)
        ]

    async def export(self, tenant: str, user: str) -> list[StoredMemory]:
        """Every memory of ``user``, oldest first."""
        collection = await self.collections.existing(tenant, MEMORIES)
        if collection is None:
            return []

        def read_all() -> list[StoredMemory]:
            out: list[StoredMemory] = []
            offset = 0
            while True:
                page = collection.get(
                    where={"user": user}, include=["documents", "metadatas"], limit=EXPORT_PAGE, offset=offset
                )
                documents = page["documents"] or []
                metadatas = page["metadatas"] or []
                for i, doc, meta in zip(page["ids"], documents, metadatas, strict=True):
                    out.append(StoredMemory(id=memory_id(i), text=doc, metadata=stored_metadata(meta)))
                if len(page["ids"]) < EXPORT_PAGE:
                    return out
                offset += EXPORT_PAGE

        memories = await self.collections.call(read_all)
        memories.sort(key=lambda m: float(m.metadata.get("created_at") or 0.0))
        return memories

    async def delete_user(self, tenant: str, user: str) -> int:
        """Erase every memory of ``user``; returns how many were deleted."""
        collection = await self.collections.existing(tenant, MEMORIES)
        if collection is None:
            return 0

        def erase() -> int:
            ids = collection.get(where={"user": user}, include=[])["ids"]
            if ids:
                collection.delete(ids=ids)
            return len(ids)

        return await self.collections.call(erase)
