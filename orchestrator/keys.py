"""API keys: what a key record holds, how a secret is minted and hashed, the bootstrap key.

Records live in the orchestrator's database (:mod:`meshline.orchestrator.key_store`); only the
secret's sha256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from meshline.contracts import ApiKeyInfo, KeyState

KEY_PREFIX = "ml_"
# Minted keys are 46 characters; anything far longer is not one of ours and never reaches the database.
MAX_KEY_CHARS = 128


class ApiKeyRecord(BaseModel):
    """One key as stored (times are Unix seconds)."""

    id: str
    tenant: str
    user: str | None = None
    scopes: list[str]
    name: str = ""
    created_at: float = Field(default_factory=time.time)
    expires_at: float | None = None
    revoked_at: float | None = None
    created_by: str | None = None
    # Per-key limit overrides (None: the orchestrator's per-key defaults); see rate_limits.py.
    rate_limit_rps: float | None = None
    max_concurrent_turns: int | None = None

    def state(self, now: float) -> KeyState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def info(self, now: float) -> ApiKeyInfo:
        """As listed: times in UTC, the state at ``now``."""
        times = {name: _utc(getattr(self, name)) for name in _TIMES if getattr(self, name) is not None}
        return ApiKeyInfo(**self.model_dump(exclude=set(_TIMES)), **times, state=self.state(now))


_TIMES = ("created_at", "expires_at", "revoked_at")


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return secrets.token_hex(8)


def digest(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough; nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def could_be_minted(key: str) -> bool:
    """False for what can never be a key we minted, so garbage costs no database round trip."""
    return key.startswith(KEY_PREFIX) and len(key) <= MAX_KEY_CHARS


def is_admin_key(candidate: str, admin_key: str | None) -> bool:
    return admin_key is not None and hmac.compare_digest(candidate.encode(), admin_key.encode())
