"""Memory writes as Redis Stream entries: encoding, enqueueing, and applying them to the store.

``POST /v1/memories`` appends one entry per write to the stream (``settings.stream_key``);
the worker (:mod:`meshline.memory.memories.write_worker`) consumes it with a consumer group. Entry fields:
``tenant``, ``user``, ``id``, ``text``, ``metadata`` (JSON object) and ``created_at``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from meshline.contracts import MemoryWrite, MetadataScalar
from meshline.embeddings import Embedder
from meshline.memory.memories.store import MemoryRecord, MemoryStore


@dataclass(frozen=True)
class MemoryWriteJob:
    """One accepted write: whose memory it is, and the record to store."""

    tenant: str
    user: str
    id: str
    text: str
    created_at: float
    metadata: dict[str, MetadataScalar] = field(default_factory=dict)

    @classmethod
    def accept(cls, tenant: str, user: str, write: MemoryWrite) -> MemoryWriteJob:
        """A job for ``write`` by (tenant, user); a missing id becomes a new uuid."""
        return cls(
            tenant=tenant,
            user=user,
            id=write.id or uuid.uuid4().hex,
            text=write.text,
            created_at=time.time(),
            metadata=dict(write.metadata),
        )

    def to_fields(self) -> dict[str, str]:
        return {
            "tenant": self.tenant,
            "user": self.user,
            "id": self.id,
            "text": self.text,
            "metadata": json.dumps(self.metadata),
            "created_at": repr(self.created_at),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> MemoryWriteJob:
        """Parse a stream entry; raises ``ValueError`` when it is malformed."""
        try:
            metadata = json.loads(fields.get("metadata") or "{}")
            job = cls(
                tenant=fields["tenant"],
                user=fields["user"],
                id=fields["id"],
                text=fields["text"],
                created_at=float(fields.get("created_at") or time.time()),
                metadata=metadata,
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed memory write entry: {exc}") from exc
        if not isinstance(metadata, dict) or not all(isinstance(v, MetadataScalar) for v in metadata.values()):
            raise ValueError("memory write metadata must be a flat JSON object of scalars")
        if not (job.tenant and job.user and job.id and job.text):
            raise ValueError("memory write entry lacks tenant, user, id or text")
        return job

    def record(self) -> MemoryRecord:
        return MemoryRecord(
            id=self.id, user=self.user, text=self.text, created_at=self.created_at, metadata=self.metadata
        )


async def enqueue_write(redis: aioredis.Redis, stream_key: str, job: MemoryWriteJob) -> str:
    """Append ``job`` to the write stream; returns the entry id."""
    entry_id = await redis.xadd(stream_key, job.to_fields())  # type: ignore[arg-type]
    return str(entry_id)


async def store_jobs(jobs: Sequence[MemoryWriteJob], store: MemoryStore, embedder: Embedder) -> None:
    """Embed all texts in one batched call, then upsert per tenant collection (idempotent by id)."""
    # A later write of the same id in the same batch wins; Chroma rejects duplicate ids per call.
    jobs = list({(job.tenant, job.user, job.id): job for job in jobs}.values())
    if not jobs:
        return
    vectors = await embedder.embed([job.text for job in jobs])
    by_tenant: dict[str, list[tuple[MemoryWriteJob, list[float]]]] = defaultdict(list)
    for job, vector in zip(jobs, vectors, strict=True):
        by_tenant[job.tenant].append((job, vector))
    for tenant, pairs in by_tenant.items():
        await store.upsert(tenant, [job.record() for job, _ in pairs], [vector for _, vector in pairs])
