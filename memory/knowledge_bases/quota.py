"""Ingestion quotas: what a tenant, and the stream as a whole, may hold queued and unprocessed.

One Lua script checks the caps, counts the documents and bytes, creates the job and appends its
entries, so concurrent requests cannot both pass a cap and no job exists without its entries.
The counters (hashes with fields ``docs`` and ``bytes``: ``meshline:memory:ingest:queued`` for
the stream, ``...:queued:<tenant>`` per tenant) go down when a document is counted done or
failed in its job, by the same script that counts it once (:mod:`meshline.memory.knowledge_bases.jobs`), so a
redelivered document never releases twice. The stream is never trimmed: entries are deleted
only once handled, and a full stream refuses new work instead (backpressure: 503 with
Retry-After), so no unprocessed document is silently dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from meshline.errors import PayloadTooLarge, RateLimited, ServiceUnavailable
from meshline.memory.settings import MemorySettings
from meshline.scoped_keys import join_key

QUEUED_KEY = "meshline:memory:ingest:queued"

# KEYS: tenant counters, stream counters, stream, job hash.
# ARGV: tenant docs cap, tenant bytes cap, stream docs cap, stream bytes cap, docs, bytes,
#       job ttl, job created_at, tenant, collection, fields per entry, then each entry's fields.
_ENQUEUE = """
local docs, bytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local tenant_docs = tonumber(redis.call('HGET', KEYS[1], 'docs') or '0')
local tenant_bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
local stream_docs = tonumber(redis.call('HGET', KEYS[2], 'docs') or '0')
local stream_bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
if tenant_docs + docs > tonumber(ARGV[1]) then return {'tenant_documents', tenant_docs} end
if tenant_bytes + bytes > tonumber(ARGV[2]) then return {'tenant_bytes', tenant_bytes} end
if stream_docs + docs > tonumber(ARGV[3]) then return {'stream_documents', stream_docs} end
if stream_bytes + bytes > tonumber(ARGV[4]) then return {'stream_bytes', stream_bytes} end
redis.call('HINCRBY', KEYS[1], 'docs', docs)
redis.call('HINCRBY', KEYS[1], 'bytes', bytes)
redis.call('HINCRBY', KEYS[2], 'docs', docs)
redis.call('HINCRBY', KEYS[2], 'bytes', bytes)
redis.call('HSET', KEYS[4], 'tenant', ARGV[9], 'collection', ARGV[10], 'total', docs,
           'done', 0, 'failed', 0, 'created_at', ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[7])
local width = tonumber(ARGV[11])
local entry = {}
for first = 12, #ARGV, width do
  for i = 1, width do entry[i] = ARGV[first + i - 1] end
  redis.call('XADD', KEYS[3], '*', unpack(entry))
end
return {'', 0}
"""

# Used inside jobs.py's count-once script: release one document's share of both counters.
RELEASE_LUA = """
local function release(key, bytes)
  if redis.call('HINCRBY', key, 'docs', -1) < 0 then redis.call('HSET', key, 'docs', 0) end
  if redis.call('HINCRBY', key, 'bytes', -bytes) < 0 then redis.call('HSET', key, 'bytes', 0) end
end
"""


def tenant_queued_key(tenant: str) -> str:
    return f"{QUEUED_KEY}:{join_key(tenant)}"


@dataclass(frozen=True)
class Queued:
    """What is queued and not yet processed, for one tenant or the whole stream."""

    documents: int
    bytes: int


async def queued(redis: aioredis.Redis, tenant: str | None = None) -> Queued:
    key = QUEUED_KEY if tenant is None else tenant_queued_key(tenant)
    raw: Any = await redis.hmget(key, ["docs", "bytes"])
    return Queued(int(raw[0] or 0), int(raw[1] or 0))


def _refusal(settings: MemorySettings, limit: str, current: int, docs: int, size: int) -> Exception:
    retry = {"Retry-After": str(settings.ingest_retry_after_s)}
    if limit == "tenant_documents":
        cap = settings.ingest_tenant_max_queued_documents
        return RateLimited(
            f"the tenant has {current} documents queued for ingestion and the limit is {cap} "
            f"(ingest_tenant_max_queued_documents); {docs} more do not fit until some are processed",
            code="ingest_tenant_documents_quota",
            headers=retry,
        )
    if limit == "tenant_bytes":
        cap = settings.ingest_tenant_max_queued_bytes
        return RateLimited(
            f"the tenant has {current} bytes queued for ingestion and the limit is {cap} "
            f"(ingest_tenant_max_queued_bytes); {size} more do not fit until some are processed",
            code="ingest_tenant_bytes_quota",
            headers=retry,
        )
    name = "ingest_stream_max_documents" if limit == "stream_documents" else "ingest_stream_max_bytes"
    return ServiceUnavailable(
        f"the ingestion queue is full ({name}); try again later", code="ingest_queue_full", headers=retry
    )


def check_request_fits(settings: MemorySettings, docs: int, size: int) -> None:
    """A request larger than a tenant's whole quota can never be accepted: 413, not a retryable 429."""
    if docs > settings.ingest_tenant_max_queued_documents:
        raise PayloadTooLarge(
            f"{docs} documents in one request exceed the tenant's queue of "
            f"{settings.ingest_tenant_max_queued_documents} (ingest_tenant_max_queued_documents)",
            code="ingest_request_too_large",
        )
    if size > settings.ingest_tenant_max_queued_bytes:
        raise PayloadTooLarge(
            f"{size} bytes in one request exceed the tenant's queue of "
            f"{settings.ingest_tenant_max_queued_bytes} bytes (ingest_tenant_max_queued_bytes)",
            code="ingest_request_too_large",
        )


async def enqueue_within_quota(
    redis: aioredis.Redis,
    settings: MemorySettings,
    *,
    tenant: str,
    collection: str,
    job_key: str,
    job_ttl_s: int,
    entries: Sequence[dict[str, str]],
    size: int,
) -> None:
    """Create the job and append ``entries`` if every cap allows; else raise the refusal (429/503)."""
    check_request_fits(settings, len(entries), size)
    names = list(entries[0]) if entries else []
    args: list[str | int] = [
        settings.ingest_tenant_max_queued_documents,
        settings.ingest_tenant_max_queued_bytes,
        settings.ingest_stream_max_documents,
        settings.ingest_stream_max_bytes,
        len(entries),
        size,
        job_ttl_s,
        repr(time.time()),
        tenant,
        collection,
        2 * len(names),
    ]
    for entry in entries:
        for name in names:
            args += [name, entry[name]]
    keys = [tenant_queued_key(tenant), QUEUED_KEY, settings.ingest_stream_key, job_key]
    result: Any = await redis.eval(_ENQUEUE, len(keys), *keys, *args)
    limit, current = str(result[0]), int(result[1])
    if limit:
        raise _refusal(settings, limit, current, len(entries), size)
