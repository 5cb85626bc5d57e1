"""Chroma collections namespaced per tenant, and the user-memory operations on them.

Tenant ``T``'s records of a kind (``memories``, later ``kb``...) live in the collection
``t_<sha1(T)[:16]>_<kind>``, so one tenant's data is never in another tenant's collection.
Inside a collection every record names its ``user`` and every read filters on it. Record ids
are ``<sha1(user)[:16]>:<id>``, so two users of a tenant may use the same memory id, and a
repeated write of an id (stream redelivery) replaces the record instead of duplicating it.

Chroma's client is synchronous: every call runs in a worker thread with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from meshline.contracts.memory import MemoryHit
from meshline.embeddings import Embedder
from meshline.embeddings.chroma import ChromaEmbeddingFunction
from meshline.errors import MeshlineError, ServiceUnavailable
from meshline.memory.settings import MemorySettings

MEMORIES = "memories"
EXPORT_PAGE = 1000
log = logging.getLogger("meshline.memory.store")
T = TypeVar("T")


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()[:16]


def collection_name(tenant: str, kind: str) -> str:
    """Chroma collection holding ``kind`` records of ``tenant`` (a valid Chroma name)."""
    return f"t_{_digest(tenant)}_{kind}"


def record_id(user: str, memory_id: str) -> str:
    return f"{_digest(user)}:{memory_id}"


def memory_id(stored_id: str) -> str:
    return stored_id.partition(":")[2] or stored_id


def open_chroma_client(settings: MemorySettings) -> ClientAPI:
    """HttpClient when ``chroma_url`` is set, else an embedded PersistentClient (blocking)."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlsplit(settings.chroma_url)
        ssl = url.scheme == "https"
        return chromadb.HttpClient(
            host=url.hostname or "localhost", port=url.port or (443 if ssl else 8000), ssl=ssl, settings=chroma_settings
        )
    path = settings.resolved_chroma_path()
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class TenantCollections:
    """Tenant-namespaced collections on one Chroma client, called off the event loop."""

    def __init__(self, client: ClientAPI, embedder: Embedder, timeout_s: float = 10.0) -> None:
        self.client = client
        self.embedder = embedder
        self.timeout_s = timeout_s
        self._collections: dict[str, Collection] = {}
        # Threads cannot be cancelled: calls still running are awaited before the client closes.
        self._inflight: set[asyncio.Future[Any]] = set()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking Chroma call in a thread; failures and timeouts become 503s."""
        future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except MeshlineError:
            raise
        except NotFoundError as exc:
            # A collection deleted through another replica: forget every cached handle so the
            # retry reopens (or recreates) it, instead of failing on a dead id forever.
            self._collections.clear()
            raise ServiceUnavailable("the collection changed under this call; retry", code="chroma_stale") from exc
        except TimeoutError as exc:
            detail = f"vector store did not answer within {self.timeout_s}s"
            raise ServiceUnavailable(detail, code="chroma_timeout") from exc
        except Exception as exc:
            log.warning("chroma call failed: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailable(f"vector store error: {type(exc).__name__}", code="chroma_error") from exc

    async def close(self) -> None:
        """Wait (bounded) for calls in flight, then release the client."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self.timeout_s)
        close = getattr(self.client, "close", None)  # chromadb >= 1.1
        if close is not None:
            await asyncio.to_thread(close)

    async def heartbeat(self) -> int:
        return await self.call(self.client.heartbeat)

    def _open_sync(self, name: str, kind: str) -> Collection:
        collection = self.client.get_or_create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"meshline_kind": kind, "embedding_model": self.embedder.model},
            # Never Chroma's default (it downloads a model). Chroma's protocol is generic over
            # numpy inputs we never pass, hence the ignore.
            embedding_function=ChromaEmbeddingFunction(self.embedder),  # type: ignore[arg-type]
        )
        stored_model = (collection.metadata or {}).get("embedding_model")
        if stored_model != self.embedder.model:
            raise ServiceUnavailable(
                f"collection {name} holds {stored_model!r} vectors but this service embeds with "
                f"{self.embedder.model!r}; re-embed or use the original model",
                code="embedding_model_mismatch",
                retryable=False,
            )
        return collection

    async def drop(self, tenant: str, kind: str) -> bool:
        """Delete ``tenant``'s collection of ``kind``; False when there was none."""
        name = collection_name(tenant, kind)
        self._collections.pop(name, None)

        def delete() -> bool:
            try:
                self.client.delete_collection(name)
            except NotFoundError:
                return False
            return True

        return await self.call(delete)

    async def collection(self, tenant: str, kind: str) -> Collection:
        name = collection_name(tenant, kind)
        found = self._collections.get(name)
        if found is None:
            found = await self.call(self._open_sync, name, kind)
            self._collections[name] = found
        return found


@dataclass(frozen=True)
class MemoryRecord:
    """One memory as stored: caller metadata plus ``user`` and ``created_at`` (epoch seconds)."""

    id: str
    user: str
    text: str
    created_at: float
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)

    def chroma_metadata(self) -> dict[str, str | int | float | bool]:
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
        collection = await self.collections.collection(tenant, MEMORIES)
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
            MemoryHit(id=memory_id(i), text=doc or "", score=1.0 - float(dist), metadata=dict(meta or {}))
            for i, doc, meta, dist in zip(ids, documents, metadatas, distances, strict=True)
        ]

    async def export(self, tenant: str, user: str) -> list[dict[str, Any]]:
        """Every memory of ``user``, oldest first."""
        collection = await self.collections.collection(tenant, MEMORIES)

        def read_all() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            offset = 0
            while True:
                page = collection.get(
                    where={"user": user}, include=["documents", "metadatas"], limit=EXPORT_PAGE, offset=offset
                )
                documents = page["documents"] or []
                metadatas = page["metadatas"] or []
                for i, doc, meta in zip(page["ids"], documents, metadatas, strict=True):
                    out.append({"id": memory_id(i), "text": doc, "metadata": dict(meta or {})})
                if len(page["ids"]) < EXPORT_PAGE:
                    return out
                offset += EXPORT_PAGE

        memories = await self.collections.call(read_all)
        memories.sort(key=lambda m: float(m["metadata"].get("created_at", 0.0)))
        return memories

    async def delete_user(self, tenant: str, user: str) -> int:
        """Erase every memory of ``user``; returns how many were deleted."""
        collection = await self.collections.collection(tenant, MEMORIES)

        def erase() -> int:
            ids = collection.get(where={"user": user}, include=[])["ids"]
            if ids:
                collection.delete(ids=ids)
            return len(ids)

        return await self.collections.call(erase)
