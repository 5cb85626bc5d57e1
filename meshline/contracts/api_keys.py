"""Orchestrator API keys (``/v1/keys``): the scopes a key can carry and the bodies of the key API.

The tenant of a key is fixed when it is minted; every request made with it runs in that tenant.
A key's secret is returned once, by the call that mints it, and is never stored or listed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

CHAT = "chat"  # chat turns (/v1/chat, /v1/chat/completions), the caller's own threads
INGEST = "ingest"  # the tenant's knowledge bases: ingest, read, delete
ACT_AS_USER = "act_as_user"  # a tenant backend acting for its own end users (the request's `user` field)
TENANT_ADMIN = "tenant_admin"  # mint, list and revoke the keys of the key's own tenant
ADMIN = "admin"  # the platform admin: registry, models, routes, any tenant's keys (platform tenant only)
SCOPES = frozenset({CHAT, INGEST, ACT_AS_USER, TENANT_ADMIN, ADMIN})
# What a tenant admin may put on the keys of its tenant: everything but the platform's own scope.
TENANT_SCOPES = SCOPES - {ADMIN}

NAME = r"^[A-Za-z0-9_.@-]{1,128}$"
MAX_TTL_S = 10 * 365 * 86_400
MAX_RATE_LIMIT_RPS = 10_000.0
MAX_CONCURRENT_TURNS = 10_000
KeyState = Literal["active", "expired", "revoked"]


class CreateApiKey(BaseModel):
    """``POST /v1/keys``. Unknown fields are refused: a misspelt ``ttl_s`` must not mint a key that never expires."""

    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(default=None, pattern=NAME, description="Default: the caller's own tenant.")
    user: str | None = Field(default=None, pattern=NAME, description="Bind the key to one end user.")
    scopes: list[str] = Field(default_factory=lambda: [CHAT], min_length=1)
    name: str = Field(default="", max_length=200)
    expires_at: AwareDatetime | None = Field(default=None, description="When the key stops working.")
    ttl_s: int | None = Field(default=None, ge=1, le=MAX_TTL_S, description="Or: seconds from now.")
    rate_limit_rps: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RATE_LIMIT_RPS,
        description="Requests per second this key may make (default: the orchestrator's per-key default). "
        "A tenant admin cannot set it above its tenant's limit; the tenant's limit applies as well.",
    )
    max_concurrent_turns: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CONCURRENT_TURNS,
        description="Chat turns this key may have running at once (same rules as rate_limit_rps).",
    )

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        unknown = set(scopes) - SCOPES
        if unknown:
            raise ValueError(f"unknown scope(s) {sorted(unknown)}; known: {sorted(SCOPES)}")
        return sorted(set(scopes))

    @model_validator(mode="after")
    def _one_expiry(self) -> CreateApiKey:
        if self.expires_at is not None and self.ttl_s is not None:
            raise ValueError("give expires_at or ttl_s, not both")
        return self


class ApiKeyInfo(BaseModel):
    """A key as listed: never its secret nor its hash."""

    id: str
    tenant: str
    user: str | None = None
    scopes: list[str] = Field(default_factory=list)
    name: str = ""
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None
    created_by: str | None = Field(default=None, description="Id of the key that minted it ('admin': bootstrap).")
    rate_limit_rps: float | None = Field(default=None, description="Its own request rate limit, if it has one.")
    max_concurrent_turns: int | None = Field(default=None, description="Its own concurrent-turn limit, if any.")
    state: KeyState = "active"


class ApiKey(ApiKeyInfo):
    """A freshly minted key; ``key`` is shown this once and never stored in plaintext."""

    key: str


class ApiKeyList(BaseModel):
    keys: list[ApiKeyInfo]
