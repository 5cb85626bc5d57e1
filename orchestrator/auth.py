"""Centralized auth: API key -> principal (tenant, user, scopes) for every public endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from meshline.contracts import ADMIN, SCOPES
from meshline.errors import Forbidden, Unauthorized
from meshline.orchestrator.key_store import ApiKeyStore
from meshline.orchestrator.keys import is_admin_key
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.service import current_context

BOOTSTRAP_KEY_ID = "admin"


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str | None
    scopes: frozenset[str]
    key_id: str
    # The key record's own limits (None: the defaults); rate_limits.py applies them.
    rate_limit_rps: float | None = None
    max_concurrent_turns: int | None = None

    @property
    def platform_admin(self) -> bool:
        # `admin` only survives authentication on keys of the platform tenant (see authenticate).
        return ADMIN in self.scopes


def _api_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"].strip()
    raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")


async def authenticate(request: Request) -> Principal:
    """The caller's principal from its API key (401 when the key is missing, unknown, revoked or expired)."""
    key = _api_key(request)
    settings: OrchestratorSettings = request.app.state.settings
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    if is_admin_key(key, admin):
        principal = Principal(settings.admin_tenant, None, SCOPES, BOOTSTRAP_KEY_ID)
    else:
        store: ApiKeyStore = request.app.state.api_keys
        record = await store.lookup(key)
        if record is None:
            raise Unauthorized("unknown, revoked or expired API key", code="invalid_api_key")
        scopes = frozenset(record.scopes)
        if record.tenant != settings.admin_tenant:
            scopes -= {ADMIN}  # never minted so (see api/keys.py); a record that says otherwise grants nothing
        principal = Principal(
            record.tenant, record.user, scopes, record.id, record.rate_limit_rps, record.max_concurrent_turns
        )
    ctx = current_context()
    ctx.tenant, ctx.user = principal.tenant, principal.user
    return principal


def require_any_scope(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: the caller's principal, which must hold at least one of ``scopes``."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.scopes.isdisjoint(scopes):
            wanted = " or ".join(repr(s) for s in scopes)
            raise Forbidden(f"this key lacks the {wanted} scope", code="missing_scope")
        return principal

    return dependency


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency resolving the caller's API key and checking one scope."""
    return require_any_scope(scope)
