"""Chroma collections namespaced per tenant, shared by user memories and knowledge bases.

Tenant ``T``'s records of a kind (``memories``, ``kb_<name>``) live in the collection
``t_<sha1(T)[:16]>_<kind>``, so one tenant's data is never in another tenant's collection.

Chroma's client is synchronous: every call runs in a worker thread with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from meshline.contracts import MetadataScalar, StoredMetadata
from meshline.embeddings import ChromaEmbeddingFunction, Embedder
from meshline.errors import MeshlineError, ServiceUnavailable
from meshline.memory.settings import MemorySettings

log = logging.getLogger(__name__)
T = TypeVar("T")


def digest(value: str) -> str:
    """A short stable digest of ``value`` (sha1, 16 hex digits), for names and ids."""
    return hashlib.sha1(value.encode()).hexdigest()[:16]


def collection_name(tenant: str, kind: str) -> str:
    """Chroma collection holding ``kind`` records of ``tenant`` (a valid Chroma name)."""
    return f"t_{digest(tenant)}_{kind}"


def stored_metadata(meta: Mapping[str, object] | None) -> StoredMetadata:
    """A record's metadata as read back: the scalars (and nulls). The API writes only flat
    scalars, so nothing else is there unless written to Chroma around the service."""
    return {k: v for k, v in (meta or {}).items() if v is None or isinstance(v, MetadataScalar)}


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
        return self._same_model(collection, name)

    def _find_sync(self, name: str) -> Collection | None:
        try:
            collection = self.client.get_collection(
                name,
                embedding_function=ChromaEmbeddingFunction(self.embedder),  # type: ignore[arg-type]
            )
        except NotFoundError:
            return None
        return self._same_model(collection, name)

    def _same_model(self, collection: Collection, name: str) -> Collection:
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
        """``tenant``'s collection of ``kind``, created on first use: for writes."""
        name = collection_name(tenant, kind)
        found = self._collections.get(name)
        if found is None:
            found = await self.call(self._open_sync, name, kind)
            self._collections[name] = found
        return found

    async def existing(self, tenant: str, kind: str) -> Collection | None:
        """``tenant``'s collection of ``kind`` if it exists: for reads, which never create one
        (a search or a GET of a name nobody wrote would otherwise leave an empty collection behind)."""
        name = collection_name(tenant, kind)
        found = self._collections.get(name)
        if found is None:
            found = await self.call(self._find_sync, name)
            if found is not None:
                self._collections[name] = found
        return found
