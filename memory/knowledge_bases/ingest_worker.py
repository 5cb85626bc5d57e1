"""The ingestion worker: consumes the ingestion stream (:mod:`meshline.memory.knowledge_bases.ingest_stream`).

:class:`IngestWorker` has each document decoded and cut in the parse sandbox
(:mod:`meshline.memory.knowledge_bases.parse_pool`), embeds a read's chunks in one batched call and replaces
each document's chunks, then counts it in the job and acknowledges the entry. At-least-once
delivery with idempotent effects: chunk ids are deterministic, the upsert replaces, and the job
counts each document once (see :mod:`meshline.memory.knowledge_bases.jobs`).

Isolation: a document that cannot be decoded, or exceeds a sandbox limit, fails alone (counted
failed with its reason, dead-lettered). A batch the store refuses is retried one document at a
time, so a document Chroma rejects fails alone and the others of the batch are stored.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from chromadb.errors import InvalidArgumentError
from redis.exceptions import RedisError

from meshline.embeddings import Embedder
from meshline.memory.knowledge_bases.chunking import Chunk, chunks_from_pieces
from meshline.memory.knowledge_bases.decoding import DocumentError
from meshline.memory.knowledge_bases.ingest_stream import IngestEntry
from meshline.memory.knowledge_bases.jobs import JobBook
from meshline.memory.knowledge_bases.lexical import LexicalIndexes
from meshline.memory.knowledge_bases.parse_pool import ParsePool
from meshline.memory.knowledge_bases.parse_sandbox import ParseRequest
from meshline.memory.knowledge_bases.store import KnowledgeBaseStore
from meshline.memory.settings import MemorySettings
from meshline.memory.stream_consumer import Entry, StreamConfig, StreamConsumer

# What a dead letter keeps: a reference to the document and the reason, never its content.
DEAD_LETTER_FIELDS = ("job", "tenant", "collection", "position", "id", "format", "size")
LAST_ERROR_KEY = "meshline:memory:ingest:last_error"
log = logging.getLogger(__name__)


def rejected_by_store(exc: BaseException) -> bool:
    """Whether the store refused the input itself (bad metadata, say) rather than failed: such a
    document fails at once instead of being redelivered."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, InvalidArgumentError | ValueError | TypeError):
            return True
        seen = seen.__cause__
    return False


Ready = tuple[str, IngestEntry, list[Chunk]]


async def entry_chunks(entry: IngestEntry, parser: ParsePool) -> list[Chunk]:
    """Decode and chunk a document in the parse sandbox; raises DocumentError with the reason it failed."""
    doc = entry.document
    metadata = doc.metadata()
    found_title, pieces = await parser.parse(ParseRequest(doc.id, doc.content, doc.format, doc.binary))
    return chunks_from_pieces(doc.id, doc.title or found_title or doc.id, pieces, metadata)


class IngestWorker(StreamConsumer):
    """Consumes the ingestion stream (run several memory replicas to scale out)."""

    label = "ingest worker"

    def __init__(
        self,
        redis: aioredis.Redis,
        store: KnowledgeBaseStore,
        lexical: LexicalIndexes,
        embedder: Embedder,
        settings: MemorySettings,
        parser: ParsePool,
        consumer: str | None = None,
    ) -> None:
        config = StreamConfig.for_stream(
            settings,
            stream=settings.ingest_stream_key,
            group=settings.ingest_group,
            dead_letter_key=settings.ingest_dead_letter_key,
            batch_size=settings.ingest_batch_documents,
            dead_letter_max=settings.ingest_dead_letter_max,
            dead_letter_ttl_s=settings.ingest_dead_letter_ttl_s,
        )
        super().__init__(redis, config, consumer)
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings
        self.parser = parser
        self.jobs = JobBook(redis, settings.job_ttl_s)

    async def _decode(self, entry_id: str, fields: dict[str, str]) -> Ready | None:
        """The entry's chunks, or None when it failed alone (counted and dead-lettered)."""
        try:
            entry = IngestEntry.from_fields(fields)
        except ValueError as exc:
            await super().dead_letter(entry_id, str(exc), fields)
            return None
        try:
            return entry_id, entry, await entry_chunks(entry, self.parser)
        except DocumentError as exc:
            await self.fail(entry_id, entry, str(exc))
            return None

    async def process(self, entries: list[Entry]) -> None:
        """Decode every document in the sandbox, then store the batch; if the store refuses it,
        store one document at a time so one bad document cannot fail the others."""
        decoded = await asyncio.gather(
            *(self._decode(entry_id, fields) for entry_id, fields in entries), return_exceptions=True
        )
        for outcome in decoded:
            if isinstance(outcome, BaseException):
                raise outcome  # the pool stopped or Redis failed: the entries stay pending
        ready = [item for item in decoded if isinstance(item, tuple)]
        if not ready:
            return
        try:
            await self._store(ready)
        except RedisError:
            raise  # nothing to isolate: the entries stay pending and are redelivered
        except Exception as exc:
            if len(ready) == 1:
                await self._failed_alone(ready[0], exc)
                return
            log.warning("ingest worker: batch of %d failed (%s); storing one by one", len(ready), exc)
            for item in ready:
                try:
                    await self._store([item])
                except RedisError:
                    raise
                except Exception as one:
                    await self._failed_alone(item, one)
                    continue
                await self._done([item])
            return
        await self._done(ready)

    async def _store(self, ready: list[Ready]) -> None:
        """Embed every chunk in one bulk call, then write each collection's documents in one call."""
        vectors = await self.embedder.embed_bulk([c.text for _, _, chunks in ready for c in chunks])
        by_collection: dict[tuple[str, str], list[tuple[str, list[Chunk], list[list[float]]]]] = {}
        offset = 0
        for _entry_id, entry, chunks in ready:
            by_collection.setdefault((entry.tenant, entry.collection), []).append(
                (entry.document.id, chunks, vectors[offset : offset + len(chunks)])
            )
            offset += len(chunks)
        for (tenant, collection), documents in by_collection.items():
            await self.store.replace_documents(tenant, collection, documents)
            await self.lexical.bump(self.store.chroma_name(tenant, collection))

    async def _done(self, ready: list[Ready]) -> None:
        for _entry_id, entry, _ in ready:
            await self.jobs.count(entry.job, entry.position, entry.document.id, tenant=entry.tenant, size=entry.size)
        entry_ids = [entry_id for entry_id, _, _ in ready]
        await self.ack(entry_ids)
        await self.redis.hdel(LAST_ERROR_KEY, *entry_ids)

    async def _failed_alone(self, item: Ready, exc: Exception) -> None:
        """A document the store refused fails now; any other failure is retried by redelivery
        (its last error is kept for the dead letter, should every delivery fail)."""
        entry_id, entry, _ = item
        reason = str(exc.__cause__ or exc) or type(exc).__name__
        if rejected_by_store(exc):
            await self.fail(entry_id, entry, f"the vector store rejected the document: {reason}")
            return
        log.warning("ingest worker: document %s failed, will be redelivered: %s", entry_id, reason)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(LAST_ERROR_KEY, entry_id, reason[:500])
            pipe.expire(LAST_ERROR_KEY, self.settings.ingest_dead_letter_ttl_s)
            await pipe.execute()

    async def fail(self, entry_id: str, entry: IngestEntry, reason: str) -> None:
        """Count a document as failed in its job (releasing its quota) and dead-letter it."""
        doc_id = entry.document.id
        await self.jobs.count(entry.job, entry.position, doc_id, tenant=entry.tenant, size=entry.size, error=reason)
        await super().dead_letter(entry_id, reason, entry.to_fields())

    def dead_letter_record(self, fields: dict[str, str]) -> dict[str, str]:
        return {name: fields[name] for name in DEAD_LETTER_FIELDS if name in fields}

    async def dead_letter(self, entry_id: str, reason: str, fields: dict[str, str] | None = None) -> None:
        """Dead-letter an entry that failed every delivery, counting its document as failed."""
        if fields is None:
            found: Any = await self.redis.xrange(self.stream, min=entry_id, max=entry_id)
            fields = dict(found[0][1]) if found else {}
        last: Any = await self.redis.hget(LAST_ERROR_KEY, entry_id)
        if last:
            reason = f"{reason}; last error: {last}"
            await self.redis.hdel(LAST_ERROR_KEY, entry_id)
        try:
            entry = IngestEntry.from_fields(fields)
        except ValueError:
            await super().dead_letter(entry_id, reason, fields)  # nothing to count it against
            return
        await self.fail(entry_id, entry, reason)
