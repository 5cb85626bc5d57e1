"""Ingestion jobs in Redis: one hash per job, counted once per document whatever the redeliveries.

Keys (``<p>`` = ``meshline:memory:job:<id>``): ``<p>`` hash (tenant, collection, total, done,
failed, created_at), ``<p>:seen`` set of document positions already counted, ``<p>:errors``
list of JSON errors. A document is counted by a Lua script (add to ``seen``; only if new,
increment ``done`` or ``failed``, record the error and release its share of the ingestion
quotas, see :mod:`meshline.memory.knowledge_bases.quota`), so a document redelivered after a crash is
never counted, nor released, twice. Jobs are created with their entries by the quota script.
"""

from __future__ import annotations

import json
import uuid
from typing import cast

import redis.asyncio as aioredis

from meshline.contracts import JobError, JobState, JobStatus
from meshline.errors import NotFound
from meshline.memory.knowledge_bases.quota import QUEUED_KEY, RELEASE_LUA, tenant_queued_key

JOB_PREFIX = "meshline:memory:job:"
MAX_ERRORS_SHOWN = 100

# KEYS: job hash, seen set, errors list, tenant quota counters, stream quota counters.
_COUNT_ONCE = (
    RELEASE_LUA
    + """
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
  if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[3]) end
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  release(KEYS[4], tonumber(ARGV[5]))
  release(KEYS[5], tonumber(ARGV[5]))
  return 1
end
return 0
"""
)


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobBook:
    """Creates, counts and reads ingestion jobs."""

    def __init__(self, redis: aioredis.Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    def key(self, job_id: str) -> str:
        return JOB_PREFIX + job_id

    async def count(
        self, job_id: str, position: int, document_id: str, *, tenant: str, size: int, error: str | None = None
    ) -> bool:
        """Count one document of a job as done (or failed with ``error``) and release its ``size``
        bytes of the tenant's quota; False if it was already counted."""
        key = self.key(job_id)
        payload = json.dumps({"document_id": document_id, "error": error[:500]}) if error is not None else ""
        result = await self.redis.eval(
            _COUNT_ONCE,
            5,
            key,
            f"{key}:seen",
            f"{key}:errors",
            tenant_queued_key(tenant),
            QUEUED_KEY,
            str(position),
            "failed" if error is not None else "done",
            payload,
            str(self.ttl_s),
            str(size),
        )
        return bool(result)

    async def status(self, job_id: str, tenant: str) -> JobStatus:
        """The job's progress; another tenant's job is not found (not forbidden)."""
        key = self.key(job_id)
        raw: dict[str, str] = cast(dict[str, str], await self.redis.hgetall(key))
        if not raw or raw.get("tenant") != tenant:
            raise NotFound(f"no ingestion job {job_id!r}", code="job_not_found")
        errors_raw = cast(list[str], await self.redis.lrange(f"{key}:errors", 0, MAX_ERRORS_SHOWN - 1))
        total, done, failed = int(raw["total"]), int(raw["done"]), int(raw["failed"])
        state: JobState
        if done + failed >= total:
            state = "completed" if failed == 0 else "completed_with_errors"
        else:
            state = "queued" if done + failed == 0 else "running"
        return JobStatus(
            id=job_id,
            collection=raw["collection"],
            state=state,
            total=total,
            done=done,
            failed=failed,
            errors=[JobError.model_validate_json(e) for e in errors_raw],
            created_at=float(raw["created_at"]),
        )
