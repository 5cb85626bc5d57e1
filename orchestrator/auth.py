"""Centralized auth: API key -> principal (tenant, user, scopes) for every public endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from meshline.errors import Forbidden, Unauthorized
from meshline.orchestrator.keys import SCOPES, ApiKeyStore, is_admin_key
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.service.context import current_context


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str | None
    scopes: frozenset[str]
    key_id: str


def _api_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"].strip()
    raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency resolving the caller's API key and checking one scope."""

    async def dependency(request: Request) -> Principal:
        key = _api_key(request)
        settings: OrchestratorSettings = request.app.state.settings
        admin = settings.admin_key.get_secret_value() if settings.admin_key else None
        if is_admin_key(key, admin):
            principal = Principal(settings.admin_tenant, None, SCOPES, "admin")
        else:
            store: ApiKeyStore = request.app.state.api_keys
            record = await store.lookup(key)
            if record is None:
                raise Unauthorized("unknown API key", code="invalid_api_key")
            principal = Principal(record.tenant, record.user, frozenset(record.scopes), record.id)
        if scope not in principal.scopes:
            raise Forbidden(f"this key lacks the {scope!r} scope", code="missing_scope")
        ctx = current_context()
        ctx.tenant, ctx.user = principal.tenant, principal.user
        return principal

    return dependency
