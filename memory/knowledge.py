"""Knowledge-base collections: a tenant's named collections of document chunks in Chroma.

Collection ``<name>`` of tenant ``T`` is the Chroma collection of kind ``kb_<name>`` (see
:func:`meshline.memory.store.collection_name`), so a tenant can only ever reach its own. Chunk
ids are ``<document id>#<index>``; every chunk's metadata names its ``doc_id``, ``title`` and
``chunk`` index (set last, so caller metadata cannot forge them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chromadb.api.models.Collection import Collection

from meshline.errors import Unprocessable
from meshline.memory.documents import Chunk
from meshline.memory.store import TenantCollections, collection_name

KB_PREFIX = "kb_"
DEFAULT_COLLECTION = "default"
PAGE = 1000
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")


def check_collection_name(name: str) -> str:
    """A knowledge-base name: 1-64 of ``a-z 0-9 _ -``, starting and ending alphanumeric."""
    if not _NAME.fullmatch(name):
        raise Unprocessable(
            f"invalid collection name {name!r}: use 1-64 of a-z, 0-9, '_' and '-', starting and ending "
            "with a letter or digit",
            code="invalid_collection",
        )
    return name


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as read back: id, text, metadata, and a score when it came from a search."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float = 0.0


class KnowledgeStore:
    """Document chunks of every tenant's knowledge bases."""

    def __init__(self, collections: TenantCollections) -> None:
        self.collections = collections

    async def collection(self, tenant: str, name: str) -> Collection:
        return await self.collections.collection(tenant, KB_PREFIX + check_collection_name(name))

    def chroma_name(self, tenant: str, name: str) -> str:
        return collection_name(tenant, KB_PREFIX + check_collection_name(name))

    async def replace_document(
        self, tenant: str, name: str, document_id: str, chunks: Sequence[Chunk], vectors: Sequence[list[float]]
    ) -> int:
        """Upsert a document's chunks, then delete its chunks not produced again; returns how many
        stale chunks were removed. Upserting first means readers never see the document vanish."""
        collection = await self.collection(tenant, name)
        embeddings: list[Sequence[float] | Sequence[int]] = [list(v) for v in vectors]
        keep = {chunk.id for chunk in chunks}

        def write() -> int:
            if chunks:
                collection.upsert(
                    ids=[c.id for c in chunks],
                    documents=[c.text for c in chunks],
                    embeddings=embeddings,
                    metadatas=[dict(c.metadata) for c in chunks],
                )
            existing = collection.get(where={"doc_id": document_id}, include=[])["ids"]
            stale = [i for i in existing if i not in keep]
            if stale:
                collection.delete(ids=stale)
            return len(stale)

        return await self.collections.call(write)

    async def dense(
        self, tenant: str, name: str, vector: list[float], n: int, where: dict[str, Any] | None
    ) -> list[StoredChunk]:
        """The ``n`` chunks nearest to ``vector`` (score = cosine similarity), filtered by ``where``."""
        collection = await self.collection(tenant, name)
        query: list[Sequence[float] | Sequence[int]] = [vector]
        result = await self.collections.call(
            lambda: collection.query(
                query_embeddings=query,
                n_results=n,
                where=where or None,
                include=["documents", "metadatas", "distances"],
            )
        )
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            StoredChunk(i, doc or "", dict(meta or {}), 1.0 - float(dist))
            for i, doc, meta, dist in zip(result["ids"][0], documents, metadatas, distances, strict=True)
        ]

    async def all_chunks(self, tenant: str, name: str) -> list[StoredChunk]:
        """Every chunk of the collection (to build the lexical index)."""
        collection = await self.collection(tenant, name)

        def read_all() -> list[StoredChunk]:
            out: list[StoredChunk] = []
            offset = 0
            while True:
                page = collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
                documents = page["documents"] or []
                metadatas = page["metadatas"] or []
                for i, doc, meta in zip(page["ids"], documents, metadatas, strict=True):
                    out.append(StoredChunk(i, doc or "", dict(meta or {})))
                if len(page["ids"]) < PAGE:
                    return out
                offset += PAGE

        return await self.collections.call(read_all)

    async def matching_ids(self, tenant: str, name: str, where: dict[str, Any]) -> set[str]:
        """Ids of the chunks passing a metadata filter (Chroma's ``where`` syntax)."""
        collection = await self.collection(tenant, name)
        return set(await self.collections.call(lambda: collection.get(where=where, include=[])["ids"]))

    async def count(self, tenant: str, name: str) -> int:
        collection = await self.collection(tenant, name)
        return await self.collections.call(collection.count)

    async def document_chunk_ids(self, tenant: str, name: str, document_id: str) -> list[str]:
        collection = await self.collection(tenant, name)
        return list(
            await self.collections.call(lambda: collection.get(where={"doc_id": document_id}, include=[])["ids"])
        )
