"""The chunks of every tenant's knowledge bases: one Chroma collection per knowledge base.

Collection ``<name>`` of tenant ``T`` is the Chroma collection of kind ``kb_<name>`` (see
:func:`meshline.memory.chroma.collection_name`), so a tenant can only ever reach its own. Chunk
ids are ``<document id>#<index>``; every chunk's metadata names its ``doc_id``, ``title`` and
``chunk`` index (set last, so caller metadata cannot forge them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from chromadb.api.models.Collection import Collection
from chromadb.api.types import Include, Where

from meshline.contracts import StoredMetadata
from meshline.errors import NotFound, Unprocessable
from meshline.memory.chroma import TenantCollections, collection_name, stored_metadata
from meshline.memory.knowledge_bases.chunking import Chunk

KB_PREFIX = "kb_"
DEFAULT_COLLECTION = "default"
PAGE = 1000
UPSERT_BATCH = 1000  # well under Chroma's max batch size (~5,000 records embedded)
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
    metadata: StoredMetadata
    score: float = 0.0


class KnowledgeBaseStore:
    """Document chunks of every tenant's knowledge bases."""

    def __init__(self, collections: TenantCollections) -> None:
        self.collections = collections

    async def collection(self, tenant: str, name: str) -> Collection:
        """The collection to write to, created on first use."""
        return await self.collections.collection(tenant, KB_PREFIX + check_collection_name(name))

    async def existing(self, tenant: str, name: str) -> Collection | None:
        """The collection to read from, or None: a read never creates one."""
        return await self.collections.existing(tenant, KB_PREFIX + check_collection_name(name))

    def chroma_name(self, tenant: str, name: str) -> str:
        return collection_name(tenant, KB_PREFIX + check_collection_name(name))

    async def replace_documents(
        self, tenant: str, name: str, documents: Sequence[tuple[str, Sequence[Chunk], Sequence[list[float]]]]
    ) -> int:
        """Upsert the chunks of several documents (``(id, chunks, vectors)``; a repeated id: the
        last one wins), then delete their chunks not produced again; returns how many stale
        chunks were removed. One upsert and one lookup per call, not per document (a per-document
        round trip cost ~40 ms in embedded Chroma). Upserting first means readers never see a
        document vanish."""
        latest = {doc_id: (chunks, vectors) for doc_id, chunks, vectors in documents}
        chunks = [c for doc_chunks, _ in latest.values() for c in doc_chunks]
        embeddings: list[Sequence[float] | Sequence[int]] = [list(v) for _, vs in latest.values() for v in vs]
        keep = {chunk.id for chunk in chunks}
        doc_ids = list(latest)
        where = cast(Where, {"doc_id": {"$in": doc_ids}})  # mypy cannot pick the $in member of Where
        collection = await self.collection(tenant, name)

        def write() -> int:
            for start in range(0, len(chunks), UPSERT_BATCH):
                part = slice(start, start + UPSERT_BATCH)
                collection.upsert(
                    ids=[c.id for c in chunks[part]],
                    documents=[c.text for c in chunks[part]],
                    embeddings=embeddings[part],
                    metadatas=[dict(c.metadata) for c in chunks[part]],
                )
            existing = collection.get(where=where, include=[])["ids"]
            stale = [i for i in existing if i not in keep]
            if stale:
                collection.delete(ids=stale)
            return len(stale)

        return await self.collections.call(write) if doc_ids else 0

    async def dense(
        self,
        tenant: str,
        name: str,
        vector: list[float],
        n: int,
        where: Where | None,
        *,
        with_text: bool = True,
    ) -> list[StoredChunk]:
        """The ``n`` chunks nearest to ``vector`` (score = cosine similarity), filtered by ``where``.

        ``with_text=False`` returns ids and scores only (empty text and metadata): reading 100
        chunks' texts costs more than the nearest-neighbour search itself."""
        collection = await self.existing(tenant, name)
        if collection is None:
            return []
        query: list[Sequence[float] | Sequence[int]] = [vector]
        include: Include = ["documents", "metadatas", "distances"] if with_text else ["distances"]
        result = await self.collections.call(
            lambda: collection.query(query_embeddings=query, n_results=n, where=where or None, include=include)
        )
        ids = result["ids"][0]
        documents = (result["documents"] or [[""] * len(ids)])[0]
        metadatas = (result["metadatas"] or [[{}] * len(ids)])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            StoredChunk(i, doc or "", stored_metadata(meta), 1.0 - float(dist))
            for i, doc, meta, dist in zip(ids, documents, metadatas, distances, strict=True)
        ]

    async def chunks(self, tenant: str, name: str, ids: Sequence[str]) -> list[StoredChunk]:
        """The chunks with these ids (those that exist), with text and metadata."""
        if not ids:
            return []
        collection = await self.existing(tenant, name)
        if collection is None:
            return []
        page = await self.collections.call(lambda: collection.get(ids=list(ids), include=["documents", "metadatas"]))
        documents = page["documents"] or []
        metadatas = page["metadatas"] or []
        return [
            StoredChunk(i, doc or "", stored_metadata(meta))
            for i, doc, meta in zip(page["ids"], documents, metadatas, strict=True)
        ]

    async def all_chunks(self, tenant: str, name: str) -> list[StoredChunk]:
        """Every chunk of the collection (to build the lexical index)."""
        collection = await self.existing(tenant, name)
        if collection is None:
            return []

        def read_all() -> list[StoredChunk]:
            out: list[StoredChunk] = []
            offset = 0
            while True:
                page = collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
                documents = page["documents"] or []
                metadatas = page["metadatas"] or []
                for i, doc, meta in zip(page["ids"], documents, metadatas, strict=True):
                    out.append(StoredChunk(i, doc or "", stored_metadata(meta)))
                if len(page["ids"]) < PAGE:
                    return out
                offset += PAGE

        return await self.collections.call(read_all)

    async def matching_ids(self, tenant: str, name: str, where: Where) -> set[str]:
        """Ids of the chunks passing a metadata filter (Chroma's ``where`` syntax)."""
        collection = await self.existing(tenant, name)
        if collection is None:
            return set()
        return set(await self.collections.call(lambda: collection.get(where=where, include=[])["ids"]))

    async def count(self, tenant: str, name: str) -> int:
        collection = await self.existing(tenant, name)
        return 0 if collection is None else await self.collections.call(collection.count)

    async def delete_collection(self, tenant: str, name: str) -> None:
        """Delete the whole collection; NotFound (404) when the tenant has none of that name."""
        if not await self.collections.drop(tenant, KB_PREFIX + check_collection_name(name)):
            raise NotFound(f"no collection {name!r}", code="collection_not_found")

    async def delete_document(self, tenant: str, name: str, document_id: str) -> int:
        """Delete every chunk of a document; returns how many; NotFound (404) when it has none."""
        collection = await self.existing(tenant, name)
        if collection is None:
            raise NotFound(f"no document {document_id!r} in collection {name!r}", code="document_not_found")

        def delete() -> int:
            ids = collection.get(where={"doc_id": document_id}, include=[])["ids"]
            if ids:
                collection.delete(ids=ids)
            return len(ids)

        removed = await self.collections.call(delete)
        if not removed:
            raise NotFound(f"no document {document_id!r} in collection {name!r}", code="document_not_found")
        return removed

    async def document_chunk_ids(self, tenant: str, name: str, document_id: str) -> list[str]:
        collection = await self.existing(tenant, name)
        if collection is None:
            return []
        return list(
            await self.collections.call(lambda: collection.get(where={"doc_id": document_id}, include=[])["ids"])
        )
