"""Exact-match response cache in Redis: the key is a hash of the normalised request.

Only deterministic requests are cached by default (``temperature`` 0); a sampled request is
cached only when the caller asks (``"cache": true``), and ``Cache-Control: no-cache`` or
``"cache": false`` bypasses it. The version that answered is part of the key, so a promoted
model never serves its predecessor's answers, and so is the tenant, so no tenant is ever served
an answer computed for another (a prompt can carry one tenant's data).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from redis.asyncio.client import Pipeline

from meshline.json_types import JsonObject

PREFIX = "meshline:llm:cache"
# Parameters that do not change the answer: who asked, how it is delivered, how long to wait.
_IGNORED = frozenset({"user", "timeout", "stream", "stream_options"})

CacheDecision = Literal["use", "bypass", "skip"]


def decide(flag: bool | None, cache_control: str | None, temperature: float | None, stream: bool) -> CacheDecision:
    """``use`` the cache, ``bypass`` it on the caller's request, or ``skip`` it (sampled or streamed)."""
    if flag is False or (cache_control is not None and "no-cache" in cache_control.lower()):
        return "bypass"
    if stream:
        return "skip"
    if flag is True or temperature == 0:
        return "use"
    return "skip"


def cache_key(tenant: str, group: str, messages: list[JsonObject], params: JsonObject) -> str:
    kept = {k: v for k, v in params.items() if k not in _IGNORED}
    normalised = json.dumps([tenant, group, messages, kept], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{PREFIX}:{hashlib.sha256(normalised.encode()).hexdigest()}"


def queue_get(pipe: Pipeline, key: str) -> None:
    pipe.get(key)


def queue_set(pipe: Pipeline, key: str, body: JsonObject, ttl_s: int) -> None:
    pipe.set(key, json.dumps(body, separators=(",", ":")), ex=ttl_s)


def cached_body(raw: bytes | None) -> JsonObject | None:
    if raw is None:
        return None
    body: JsonObject = json.loads(raw)
    return body
