"""What the ingestion stream carries: one entry per uploaded document, naming its job and tenant.

``POST /v1/collections/{name}/documents`` creates a job and appends one entry per document in
one Lua script that also enforces the ingestion quotas
(:mod:`meshline.memory.knowledge_bases.quota`); :mod:`meshline.memory.knowledge_bases.ingest_worker`
consumes them. Entry fields: ``job``, ``tenant``, ``collection``, ``position`` (in the job),
``id``, ``content``, ``format``, ``binary`` (``"1"``/``"0"``), ``title``, ``metadata`` (the
caller's JSON) and ``size`` (bytes of content, released from the quotas once it is counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from meshline.contracts import DocumentFormat
from meshline.memory.knowledge_bases.jobs import JobBook, new_job_id
from meshline.memory.knowledge_bases.quota import enqueue_within_quota
from meshline.memory.knowledge_bases.uploads import DocumentUpload
from meshline.memory.settings import MemorySettings

FORMATS: tuple[DocumentFormat, ...] = ("text", "markdown", "html", "pdf")


@dataclass(frozen=True)
class IngestEntry:
    """One document of a job as a stream entry: the upload, and whose job it belongs to."""

    job: str
    tenant: str
    collection: str
    position: int
    document: DocumentUpload
    size: int = 0

    def to_fields(self) -> dict[str, str]:
        doc = self.document
        return {
            "job": self.job,
            "tenant": self.tenant,
            "collection": self.collection,
            "position": str(self.position),
            "id": doc.id,
            "content": doc.content,
            "format": doc.format,
            "binary": "1" if doc.binary else "0",
            "title": doc.title,
            "metadata": doc.metadata_json,
            "size": str(self.size),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> IngestEntry:
        """Parse an entry; raises ``ValueError`` when it cannot name its job and document."""
        try:
            fmt = next((f for f in FORMATS if f == (fields.get("format") or "text")), None)
            if fmt is None:
                raise ValueError(f"unknown format {fields.get('format')!r}")
            document = DocumentUpload(
                id=fields["id"],
                content=fields.get("content", ""),
                format=fmt,
                binary=fields.get("binary") == "1",
                title=fields.get("title", ""),
                metadata_json=fields.get("metadata") or "{}",
            )
            entry = cls(
                job=fields["job"],
                tenant=fields["tenant"],
                collection=fields["collection"],
                position=int(fields["position"]),
                document=document,
                size=int(fields.get("size") or 0),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed ingestion entry: missing {exc}") from exc
        if not (entry.job and entry.tenant and entry.collection and document.id):
            raise ValueError("ingestion entry lacks job, tenant, collection or document id")
        return entry


async def enqueue_documents(
    redis: aioredis.Redis,
    settings: MemorySettings,
    jobs: JobBook,
    tenant: str,
    collection: str,
    documents: Sequence[DocumentUpload],
) -> str:
    """Create a job and queue its documents atomically, within the quotas; returns the job id.

    Raises RateLimited (429) past the tenant's quota, ServiceUnavailable (503) when the stream is
    full, PayloadTooLarge (413) for a request no quota could hold."""
    job_id = new_job_id()
    entries = [
        IngestEntry(job_id, tenant, collection, position, doc, size=doc.size) for position, doc in enumerate(documents)
    ]
    await enqueue_within_quota(
        redis,
        settings,
        tenant=tenant,
        collection=collection,
        job_key=jobs.key(job_id),
        job_ttl_s=jobs.ttl_s,
        entries=[entry.to_fields() for entry in entries],
        size=sum(entry.size for entry in entries),
    )
    return job_id
