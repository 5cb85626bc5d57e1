"""One chat completion through the gateway: quotas and cache first, the fallback chain, then the ledger.

Redis is touched at most twice per request, each time in one pipeline: before the model call
(the tenant's quota counters and the cache lookup, only when limits or the cache apply) and
after it (usage, spend, shared health, cache fill). A Redis outage degrades to serving without
quotas, cache and ledger rather than failing calls.

A stream is opened and its first chunk awaited before the response starts, so a provider that
fails up front still gets a real HTTP status (and the fallback chain). After that, chunks go out
as they arrive; usage from the last chunk is counted when the stream ends; a failure mid-way
becomes an ``event: error`` carrying a problem, and the stream ends there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse
from litellm.types.utils import ModelResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from meshline.agents.llm import ledger, response_cache
from meshline.agents.llm.config import TenantLimits
from meshline.agents.llm.endpoint_slots import Slot
from meshline.agents.llm.gateway import Attempt, ModelGateway, Outcome
from meshline.agents.llm.provider_errors import provider_error
from meshline.errors import DeadlineExceeded, MeshlineError, UpstreamError
from meshline.json_types import JsonObject
from meshline.service import current_context, problem_for
from meshline.sse import SSE_MEDIA_TYPE, encode_sse

log = logging.getLogger(__name__)
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def call_timeout(budget_s: float) -> float:
    """The provider timeout: the configured budget, capped by what is left of the request's deadline."""
    remaining = current_context().remaining()
    if remaining is None:
        return budget_s
    if remaining <= 0:
        raise DeadlineExceeded("the request's deadline passed before the model was called")
    return min(budget_s, remaining)


@dataclass
class CompletionJob:
    """Everything one request needs, decided by the route from the body, headers and identity."""

    tenant: str
    agent: str
    alias: str
    messages: list[JsonObject]
    params: JsonObject
    chain: list[Attempt]
    limits: TenantLimits
    cache: response_cache.CacheDecision
    cache_ttl_s: int
    instance: str
    now: float = field(default_factory=time.time)
    cache_key: str | None = None


async def _take_slot(gateway: ModelGateway, job: CompletionJob, attempt: Attempt) -> tuple[Slot | None, JsonObject]:
    """Queue for the endpoint's slot when it has a limit; the call's params then get a timeout
    counted from now (the wait spent part of the request's deadline)."""
    budget = float(job.params.get("timeout") or 0) or None
    slot = await gateway.slots.take(attempt.version, budget or gateway.slots.queue_s)
    if slot is None or budget is None:
        return slot, job.params
    try:
        return slot, {**job.params, "timeout": call_timeout(budget)}
    except DeadlineExceeded:
        slot.release()
        raise


async def _preflight(redis: Redis, job: CompletionJob) -> JsonObject | None:
    """Enforce the tenant's quotas and look the request up in the cache; returns a cached body."""
    limited = ledger.has_limits(job.limits)
    if job.cache == "use":
        job.cache_key = response_cache.cache_key(job.tenant, job.chain[0].group, job.messages, job.params)
    if not limited and job.cache_key is None:
        return None
    try:
        async with redis.pipeline(transaction=False) as pipe:
            count = ledger.queue_quota_check(pipe, job.tenant, job.now) if limited else 0
            if job.cache_key is not None:
                response_cache.queue_get(pipe, job.cache_key)
            results = await pipe.execute()
    except RedisError as exc:
        log.warning("quota and cache unavailable, serving without them: %s", exc)
        job.cache_key = None
        return None
    if limited:
        ledger.enforce_quota(results[:count], job.limits, job.now)
    return response_cache.cached_body(results[count]) if job.cache_key is not None else None


async def _record(
    gateway: ModelGateway, redis: Redis, job: CompletionJob, outcome: Outcome, usage: Any, body: JsonObject | None
) -> None:
    """Count the call in the ledger and the metrics, fill the cache: one pipeline."""
    served = outcome.served
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage is not None else 0
    completion = int(getattr(usage, "completion_tokens", 0) or 0) if usage is not None else 0
    metrics = gateway.metrics
    for group, ok, _ in outcome.observations:
        alias, _, version = group.partition("@")
        metrics.calls.labels(alias, version, "ok" if ok else "error").inc()
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for group, ok, latency_s in outcome.observations:
                ledger.queue_health(pipe, group, ok, latency_s, job.now)
            if served is not None:
                metrics.tokens.labels(served.alias, served.version.version, "prompt").inc(prompt)
                metrics.tokens.labels(served.alias, served.version.version, "completion").inc(completion)
                record = ledger.UsageRecord(
                    tenant=job.tenant,
                    agent=job.agent,
                    alias=served.alias,
                    version=served.version.version,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    cost_nano_usd=gateway.cost_nano_usd(served, prompt, completion),
                )
                ledger.queue_usage(pipe, record, job.now)
            if body is not None and job.cache_key is not None:
                response_cache.queue_set(pipe, job.cache_key, body, job.cache_ttl_s)
            await pipe.execute()
    except RedisError as exc:
        log.warning("usage of a %s call not recorded: %s", job.alias, exc)


def _headers(outcome: Outcome, cache: str) -> dict[str, str]:
    served = outcome.served
    return {"X-Meshline-Model-Version": served.group if served else "", "X-Meshline-Cache": cache}


async def complete(gateway: ModelGateway, redis: Redis, job: CompletionJob) -> JSONResponse:
    """One non-streamed completion, as OpenAI's ``chat.completion`` JSON."""
    cached = await _preflight(redis, job)
    if cached is not None:
        gateway.metrics.cache.labels("hit").inc()
        hit = Outcome(served=job.chain[0])
        record = ledger.UsageRecord(job.tenant, job.agent, job.alias, job.chain[0].version.version, cache_hit=True)
        with contextlib.suppress(RedisError):
            async with redis.pipeline(transaction=False) as pipe:
                ledger.queue_usage(pipe, record, job.now)
                await pipe.execute()
        return JSONResponse(cached, headers=_headers(hit, "hit"))
    cache_state = "miss" if job.cache_key is not None else job.cache
    gateway.metrics.cache.labels(cache_state).inc()

    async def call(attempt: Attempt) -> Any:
        assert gateway.router is not None
        slot, params = await _take_slot(gateway, job, attempt)
        try:
            return await gateway.router.acompletion(
                model=attempt.group,
                messages=gateway.messages_for(attempt, job.messages),  # type: ignore[arg-type]
                **params,
            )
        finally:
            if slot is not None:
                slot.release()

    response, outcome = await gateway.run(job.chain, call)
    if not isinstance(response, ModelResponse):
        raise UpstreamError(f"model {job.alias!r} answered with {type(response).__name__}", code="provider_error")
    body: JsonObject = response.model_dump(mode="json")  # type: ignore[no-untyped-call]
    await _record(gateway, redis, job, outcome, getattr(response, "usage", None), body)
    return JSONResponse(body, headers=_headers(outcome, cache_state))


@dataclass(frozen=True)
class OpenedStream:
    """A provider stream with its first chunk, and the endpoint slot it holds until it ends."""

    stream: Any
    first: Any
    slot: Slot | None


def _chunk_event(chunk: Any) -> bytes:
    return encode_sse(json.dumps(chunk.model_dump(mode="json", exclude_none=True), separators=(",", ":")))


def _error_event(alias: str, exc: Exception, instance: str) -> bytes:
    error = provider_error(exc)
    if error is None:
        log.exception("stream of model %r broke", alias)
        error = MeshlineError("the stream failed unexpectedly; the trace id identifies it in the logs")
    else:
        log.warning("stream of model %r failed: %s (%s)", alias, error.detail, error.code)
    problem = problem_for(error, instance).model_dump(exclude_none=True)
    # OpenAI clients raise on an `error` event only when its data holds an `error` object.
    problem["error"] = {"message": error.detail, "type": error.code, "code": error.code, "retryable": error.retryable}
    return encode_sse(json.dumps(problem), event="error")


async def _close(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def _relay(
    gateway: ModelGateway, redis: Redis, job: CompletionJob, outcome: Outcome, opened: OpenedStream
) -> AsyncIterator[bytes]:
    stream, first = opened.stream, opened.first
    usage: Any = None
    try:
        if first is not None:
            usage = getattr(first, "usage", None) or usage
            yield _chunk_event(first)
        async for chunk in stream:
            usage = getattr(chunk, "usage", None) or usage
            yield _chunk_event(chunk)
    except Exception as exc:
        yield _error_event(job.alias, exc, job.instance)
        return
    finally:
        if opened.slot is not None:  # the endpoint is free for the next call once the stream ends
            opened.slot.release()
        await _close(stream)
        await _record(gateway, redis, job, outcome, usage, None)
    yield encode_sse("[DONE]")


async def open_stream(gateway: ModelGateway, redis: Redis, job: CompletionJob) -> StreamingResponse:
    """Open a streamed completion and relay it as SSE; usage is always requested for the last chunk."""
    await _preflight(redis, job)
    gateway.metrics.cache.labels(job.cache).inc()
    options = {**(job.params.pop("stream_options", None) or {}), "include_usage": True}

    async def call(attempt: Attempt) -> OpenedStream:
        assert gateway.router is not None
        stream: Any = None
        slot, params = await _take_slot(gateway, job, attempt)
        try:
            stream = await gateway.router.acompletion(
                model=attempt.group,
                messages=gateway.messages_for(attempt, job.messages),  # type: ignore[arg-type]
                stream=True,
                stream_options=options,
                **params,
            )
            return OpenedStream(stream, await anext(aiter(stream), None), slot)
        except BaseException:
            if slot is not None:
                slot.release()
            if stream is not None:
                await _close(stream)
            raise

    opened, outcome = await gateway.run(job.chain, call)
    relay = _relay(gateway, redis, job, outcome, opened)
    return StreamingResponse(relay, media_type=SSE_MEDIA_TYPE, headers={**STREAM_HEADERS, **_headers(outcome, "skip")})
