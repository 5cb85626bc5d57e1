"""Token and cost accounting, tenant quotas, and shared per-version health counters, in Redis.

Everything is queued onto a caller's pipeline so a request costs at most one Redis round trip
before the model call (quota check, cache lookup) and one after (usage, spend, health, cache).
Costs are integers in nano-dollars so totals add up exactly however many calls they sum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from meshline.agents.llm.config import TenantLimits
from meshline.contracts import SharedHealth, UsageCounts, UsageReport, UsageRow
from meshline.errors import RateLimited

PREFIX = "meshline:llm"
TENANTS_KEY = f"{PREFIX}:usage:tenants"
SEP = "\x1f"
METRICS = ("requests", "prompt_tokens", "completion_tokens", "cost_nano_usd", "cache_hits")
HEALTH_BUCKET_S = 10
HEALTH_BUCKETS = 6  # the shared health view covers the last minute
NANO = 1_000_000_000


@dataclass(frozen=True)
class UsageRecord:
    tenant: str
    agent: str
    alias: str
    version: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nano_usd: int = 0
    cache_hit: bool = False


def _usage_key(tenant: str) -> str:
    return f"{PREFIX}:usage:{tenant}"


def _spend_key(tenant: str, now: float) -> str:
    return f"{PREFIX}:spend:{tenant}:{datetime.fromtimestamp(now, UTC):%Y%m}"


def _rate_key(tenant: str, now: float) -> str:
    return f"{PREFIX}:rate:{tenant}:{int(now // 60)}"


def _health_key(group: str, now: float) -> str:
    return f"{PREFIX}:health:{group}:{int(now // HEALTH_BUCKET_S)}"


def _seconds_to_next_month(now: float) -> int:
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return max(1, int(datetime(year, month, 1, tzinfo=UTC).timestamp() - now))


def has_limits(limits: TenantLimits) -> bool:
    return any(v is not None for v in (limits.requests_per_minute, limits.tokens_per_minute, limits.budget_usd))


def queue_quota_check(pipe: Pipeline, tenant: str, now: float) -> int:
    """Count this request in the tenant's minute and read its token and spend counters (4 results)."""
    key = _rate_key(tenant, now)
    pipe.hincrby(key, "requests", 1)
    pipe.expire(key, 120)
    pipe.hget(key, "tokens")
    pipe.get(_spend_key(tenant, now))
    return 4


def enforce_quota(results: list[Any], limits: TenantLimits, now: float) -> None:
    """Raise 429 with Retry-After when the counters read by :func:`queue_quota_check` exceed ``limits``."""
    requests, _, tokens, spent = int(results[0]), results[1], int(results[2] or 0), int(results[3] or 0)
    retry_minute = {"Retry-After": str(max(1, 60 - int(now % 60)))}
    if limits.requests_per_minute is not None and requests > limits.requests_per_minute:
        raise RateLimited(
            f"tenant request rate limit of {limits.requests_per_minute}/min reached",
            code="tenant_rate_limited",
            headers=retry_minute,
        )
    if limits.tokens_per_minute is not None and tokens >= limits.tokens_per_minute:
        raise RateLimited(
            f"tenant token rate limit of {limits.tokens_per_minute}/min reached",
            code="tenant_token_limited",
            headers=retry_minute,
        )
    if limits.budget_usd is not None and spent >= round(limits.budget_usd * NANO):
        raise RateLimited(
            f"tenant budget of ${limits.budget_usd:g} for this month is spent",
            code="budget_exceeded",
            headers={"Retry-After": str(_seconds_to_next_month(now))},
        )


def queue_usage(pipe: Pipeline, record: UsageRecord, now: float) -> None:
    """Add one call to the tenant's ledger, its minute's token count and its month's spend."""
    key = _usage_key(record.tenant)
    base = SEP.join((record.agent, record.alias, record.version))
    values = (
        1,
        record.prompt_tokens,
        record.completion_tokens,
        record.cost_nano_usd,
        1 if record.cache_hit else 0,
    )
    for metric, value in zip(METRICS, values, strict=True):
        if value:
            pipe.hincrby(key, f"{base}{SEP}{metric}", value)
    pipe.sadd(TENANTS_KEY, record.tenant)
    tokens = record.prompt_tokens + record.completion_tokens
    if tokens:
        rate = _rate_key(record.tenant, now)
        pipe.hincrby(rate, "tokens", tokens)
        pipe.expire(rate, 120)
    if record.cost_nano_usd:
        pipe.incrby(_spend_key(record.tenant, now), record.cost_nano_usd)


def queue_health(pipe: Pipeline, group: str, ok: bool, latency_s: float, now: float) -> None:
    key = _health_key(group, now)
    pipe.hincrby(key, "ok" if ok else "errors", 1)
    if ok:
        pipe.hincrby(key, "latency_ms", round(latency_s * 1000))
    pipe.expire(key, HEALTH_BUCKET_S * HEALTH_BUCKETS * 2)


async def shared_health(redis: Redis, groups: list[str]) -> dict[str, SharedHealth]:
    """Requests, error rate and mean latency of each group over the last minute, all replicas."""
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for group in groups:
            for back in range(HEALTH_BUCKETS):
                pipe.hgetall(_health_key(group, now - back * HEALTH_BUCKET_S))
        raw = await pipe.execute()
    health: dict[str, SharedHealth] = {}
    for index, group in enumerate(groups):
        buckets = raw[index * HEALTH_BUCKETS : (index + 1) * HEALTH_BUCKETS]
        ok = sum(int(b.get(b"ok", 0)) for b in buckets)
        errors = sum(int(b.get(b"errors", 0)) for b in buckets)
        latency = sum(int(b.get(b"latency_ms", 0)) for b in buckets)
        total = ok + errors
        health[group] = SharedHealth(
            requests=total,
            error_rate=round(errors / total, 4) if total else 0.0,
            mean_latency_ms=round(latency / ok, 1) if ok else 0.0,
        )
    return health


async def usage_report(redis: Redis, tenant: str) -> UsageReport:
    """The tenant's ledger: one row per (agent, alias, version) and the exact totals."""
    raw = await redis.hgetall(_usage_key(tenant))
    rows: dict[tuple[str, str, str], dict[str, int]] = {}
    for field, value in raw.items():
        agent, alias, version, metric = _text(field).split(SEP)
        rows.setdefault((agent, alias, version), dict.fromkeys(METRICS, 0))[metric] = int(value)
    total = dict.fromkeys(METRICS, 0)
    out = []
    for (agent, alias, version), counts in sorted(rows.items()):
        for metric in METRICS:
            total[metric] += counts[metric]
        out.append(UsageRow(agent=agent, alias=alias, version=version, **_with_derived(counts).model_dump()))
    return UsageReport(tenant=tenant, rows=out, total=_with_derived(total))


def _with_derived(counts: dict[str, int]) -> UsageCounts:
    return UsageCounts(
        requests=counts["requests"],
        prompt_tokens=counts["prompt_tokens"],
        completion_tokens=counts["completion_tokens"],
        cost_nano_usd=counts["cost_nano_usd"],
        cache_hits=counts["cache_hits"],
        total_tokens=counts["prompt_tokens"] + counts["completion_tokens"],
        cost_usd=counts["cost_nano_usd"] / NANO,
    )


async def usage_tenants(redis: Redis) -> list[str]:
    return sorted(_text(m) for m in await redis.smembers(TENANTS_KEY))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
