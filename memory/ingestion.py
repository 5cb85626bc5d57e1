"""Knowledge-base ingestion through a Redis Stream: one entry per document, a consumer-group worker.

``POST /v1/collections/{name}/documents`` creates a job and appends its documents in one
transaction; :class:`IngestWorker` decodes, chunks, embeds (one batched call per read) and
replaces each document's chunks, then counts it in the job and acknowledges the entry.
At-least-once delivery with idempotent effects: chunk ids are deterministic, the upsert
replaces, and the job counts each document once (see :mod:`meshline.memory.jobs`). A document
that cannot be decoded fails alone: it is counted as failed and dead-lettered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from meshline.contracts.knowledge import DocumentFormat
from meshline.memory.documents import Chunk, DocumentError, check_metadata, decode, document_chunks
from meshline.memory.embeddings import Embedder
from meshline.memory.jobs import JobBook, new_job_id
from meshline.memory.knowledge import KnowledgeStore
from meshline.memory.lexical import LexicalIndexes
from meshline.memory.settings import MemorySettings
from meshline.memory.stream_consumer import Entry, StreamConfig, StreamConsumer

FORMATS: tuple[DocumentFormat, ...] = ("text", "markdown", "html", "pdf")
log = logging.getLogger("meshline.memory.ingestion")


@dataclass(frozen=True)
class IngestDocument:
    """One document of a job, as carried by a stream entry."""

    job: str
    tenant: str
    collection: str
    position: int
    id: str
    content: str
    format: DocumentFormat = "text"
    binary: bool = False
    title: str = ""
    metadata_json: str = "{}"

    def to_fields(self) -> dict[str, str]:
        return {
            "job": self.job,
            "tenant": self.tenant,
            "collection": self.collection,
            "position": str(self.position),
            "id": self.id,
            "content": self.content,
            "format": self.format,
            "binary": "1" if self.binary else "0",
            "title": self.title,
            "metadata": self.metadata_json,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> IngestDocument:
        """Parse an entry; raises ``ValueError`` when it cannot name its job and document."""
        try:
            fmt = next((f for f in FORMATS if f == (fields.get("format") or "text")), None)
            if fmt is None:
                raise ValueError(f"unknown format {fields.get('format')!r}")
            doc = cls(
                job=fields["job"],
                tenant=fields["tenant"],
                collection=fields["collection"],
                position=int(fields["position"]),
                id=fields["id"],
                content=fields.get("content", ""),
                format=fmt,
                binary=fields.get("binary") == "1",
                title=fields.get("title", ""),
                metadata_json=fields.get("metadata") or "{}",
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed ingestion entry: missing {exc}") from exc
        if not (doc.job and doc.tenant and doc.collection and doc.id):
            raise ValueError("ingestion entry lacks job, tenant, collection or document id")
        return doc

    def chunks(self, size: int, overlap: int) -> list[Chunk]:
        """Decode and chunk; raises DocumentError for a document that cannot be read."""
        try:
            metadata = check_metadata(json.loads(self.metadata_json))
        except json.JSONDecodeError as exc:
            raise DocumentError(f"metadata is not JSON: {exc}") from exc
        found_title, text = decode(self.content, self.format, binary=self.binary)
        return document_chunks(self.id, self.title or found_title or self.id, text, metadata, size, overlap)


async def enqueue_documents(
    redis: aioredis.Redis,
    settings: MemorySettings,
    jobs: JobBook,
    tenant: str,
    collection: str,
    documents: Sequence[IngestDocument],
) -> str:
    """Create a job and queue its documents atomically; returns the job id."""
    job_id = new_job_id()
    async with redis.pipeline(transaction=True) as pipe:
        jobs.create_commands(pipe, job_id, tenant, collection, len(documents))
        for position, doc in enumerate(documents):
            entry = IngestDocument(
                job=job_id,
                tenant=tenant,
                collection=collection,
                position=position,
                id=doc.id,
                content=doc.content,
                format=doc.format,
                binary=doc.binary,
                title=doc.title,
                metadata_json=doc.metadata_json,
            )
            pipe.xadd(settings.ingest_stream_key, entry.to_fields())  # type: ignore[arg-type]
        await pipe.execute()
    return job_id


class IngestWorker(StreamConsumer):
    """Consumes the ingestion stream (run several memory replicas to scale out)."""

    label = "ingest worker"

    def __init__(
        self,
        redis: aioredis.Redis,
        store: KnowledgeStore,
        lexical: LexicalIndexes,
        embedder: Embedder,
        settings: MemorySettings,
        consumer: str | None = None,
    ) -> None:
        config = StreamConfig.for_stream(
            settings,
            stream=settings.ingest_stream_key,
            group=settings.ingest_group,
            dead_letter_key=settings.ingest_dead_letter_key,
            batch_size=settings.ingest_batch_documents,
        )
        super().__init__(redis, config, consumer)
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings
        self.jobs = JobBook(redis, settings.job_ttl_s)

    async def process(self, entries: list[Entry]) -> None:
        """Chunk every document, embed all chunks in one bulk call, store them per collection in one write."""
        ready: list[tuple[str, IngestDocument, list[Chunk]]] = []
        for entry_id, fields in entries:
            try:
                doc = IngestDocument.from_fields(fields)
            except ValueError as exc:
                await super().dead_letter(entry_id, str(exc), fields)
                continue
            try:
                chunks = doc.chunks(self.settings.chunk_chars, self.settings.chunk_overlap)
            except DocumentError as exc:
                await self.jobs.count(doc.job, doc.position, doc.id, error=str(exc))
                await super().dead_letter(entry_id, str(exc), fields)
                continue
            ready.append((entry_id, doc, chunks))
        if not ready:
            return
        # A failure from here on (model, Chroma) is transient: the entries stay pending and are
        # reclaimed; after max_deliveries they are dead-lettered and counted as failed.
        vectors = await self.embedder.embed_bulk([c.text for _, _, chunks in ready for c in chunks])
        by_collection: dict[tuple[str, str], list[tuple[str, list[Chunk], list[list[float]]]]] = {}
        offset = 0
        for _entry_id, doc, chunks in ready:
            by_collection.setdefault((doc.tenant, doc.collection), []).append(
                (doc.id, chunks, vectors[offset : offset + len(chunks)])
            )
            offset += len(chunks)
        for (tenant, collection), documents in by_collection.items():
            await self.store.replace_documents(tenant, collection, documents)
            await self.lexical.bump(self.store.chroma_name(tenant, collection))
        for _entry_id, doc, _ in ready:
            await self.jobs.count(doc.job, doc.position, doc.id)
        await self.ack([entry_id for entry_id, _, _ in ready])

    async def dead_letter(self, entry_id: str, reason: str, fields: dict[str, str] | None = None) -> None:
        """Dead-letter an entry that failed too often, counting its document as failed in the job."""
        if fields is None:
            found: Any = await self.redis.xrange(self.stream, min=entry_id, max=entry_id)
            fields = dict(found[0][1]) if found else {}
        try:
            doc = IngestDocument.from_fields(fields)
            await self.jobs.count(doc.job, doc.position, doc.id, error=reason)
        except ValueError:
            pass  # nothing to count it against
        await super().dead_letter(entry_id, reason, fields)
