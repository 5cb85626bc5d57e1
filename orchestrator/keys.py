"""API keys: minted per tenant with scopes, stored hashed in Redis, looked up per request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from meshline.resilience.last_known import LastKnown

KEY_PREFIX = "ml_"
SCOPES = frozenset({"chat", "ingest", "act_as_user", "admin"})
_REDIS_KEY = "meshline:apikeys:{digest}"


class ApiKeyRecord(BaseModel):
    id: str
    tenant: str
    user: str | None = None
    scopes: list[str]
    name: str = ""
    created_at: float = Field(default_factory=time.time)


def _digest(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough; nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        # Keys seen while Redis answered keep working through a Redis outage (chat goes on).
        self._known: LastKnown[ApiKeyRecord | None] = LastKnown("API keys")

    async def create(
        self, *, tenant: str, scopes: list[str], user: str | None = None, name: str = ""
    ) -> tuple[str, ApiKeyRecord]:
        """Mint a key; the plaintext is returned once and never stored."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(id=secrets.token_hex(8), tenant=tenant, user=user, scopes=sorted(set(scopes)), name=name)
        await self.redis.set(_REDIS_KEY.format(digest=_digest(key)), record.model_dump_json())
        return key, record

    async def lookup(self, key: str) -> ApiKeyRecord | None:
        digest = _digest(key)

        async def fetch() -> ApiKeyRecord | None:
            raw = await self.redis.get(_REDIS_KEY.format(digest=digest))
            return None if raw is None else ApiKeyRecord.model_validate_json(raw)

        return await self._known.read(digest, fetch)


def is_admin_key(candidate: str, admin_key: str | None) -> bool:
    return admin_key is not None and hmac.compare_digest(candidate.encode(), admin_key.encode())
