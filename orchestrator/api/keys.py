"""``/v1/keys``: mint, list and revoke API keys.

Who may do what:
- a tenant admin (scope ``tenant_admin``) manages the keys of its own tenant, with scopes
  within chat, ingest, act_as_user and tenant_admin; keys carrying ``admin`` are not its to
  see or revoke, and another tenant's key id is simply not found;
- the platform admin (scope ``admin``, only ever on keys of ``settings.admin_tenant``; the
  bootstrap key is one) manages any tenant's keys and alone mints ``admin``, onto keys of the
  platform tenant only.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from meshline.contracts import ADMIN, NAME, TENANT_ADMIN, TENANT_SCOPES, ApiKey, ApiKeyList, CreateApiKey
from meshline.errors import Forbidden, NotFound, Unprocessable
from meshline.orchestrator.auth import Principal, require_any_scope
from meshline.orchestrator.key_store import ApiKeyStore
from meshline.orchestrator.keys import ApiKeyRecord
from meshline.orchestrator.rate_limits import ApiLimits
from meshline.orchestrator.settings import OrchestratorSettings

router = APIRouter(tags=["keys"])
KeyAdmin = Annotated[Principal, Depends(require_any_scope(TENANT_ADMIN, ADMIN))]


def _store(request: Request) -> ApiKeyStore:
    store: ApiKeyStore = request.app.state.api_keys
    return store


def _own_tenant(principal: Principal, tenant: str | None) -> str:
    """The tenant a call is about: a tenant admin's own, whatever else it names (403 if it names another)."""
    if tenant is None or tenant == principal.tenant:
        return principal.tenant
    if principal.platform_admin:
        return tenant
    raise Forbidden("a tenant admin manages the keys of its own tenant only", code="foreign_tenant")


def _manages(principal: Principal, record: ApiKeyRecord) -> bool:
    if principal.platform_admin:
        return True
    return record.tenant == principal.tenant and ADMIN not in record.scopes


@router.post("/v1/keys", response_model=ApiKey, status_code=201)
async def create_key(body: CreateApiKey, request: Request, principal: KeyAdmin) -> ApiKey:
    settings: OrchestratorSettings = request.app.state.settings
    tenant = _own_tenant(principal, body.tenant)
    if not principal.platform_admin and not set(body.scopes) <= TENANT_SCOPES:
        raise Forbidden(f"a tenant admin grants only {sorted(TENANT_SCOPES)}", code="scope_not_grantable")
    if ADMIN in body.scopes and tenant != settings.admin_tenant:
        raise Forbidden(
            f"'admin' is the platform's scope: only keys of tenant {settings.admin_tenant!r} carry it",
            code="admin_scope_platform_only",
        )
    now = time.time()
    expires_at = body.expires_at.timestamp() if body.expires_at is not None else None
    if body.ttl_s is not None:
        expires_at = now + body.ttl_s
    if expires_at is not None and expires_at <= now:
        raise Unprocessable("expires_at is in the past", code="expires_in_past")
    if not principal.platform_admin:
        limits: ApiLimits = request.app.state.rate_limits
        limits.check_grantable(tenant, body.rate_limit_rps, body.max_concurrent_turns)
    key, record = await _store(request).create(
        tenant=tenant,
        user=body.user,
        scopes=body.scopes,
        name=body.name,
        expires_at=expires_at,
        created_by=principal.key_id,
        rate_limit_rps=body.rate_limit_rps,
        max_concurrent_turns=body.max_concurrent_turns,
    )
    return ApiKey(key=key, **record.info(now).model_dump())


@router.get("/v1/keys", response_model=ApiKeyList)
async def list_keys(
    request: Request,
    principal: KeyAdmin,
    tenant: Annotated[str | None, Query(pattern=NAME, description="Platform admin: one tenant's keys.")] = None,
    include_inactive: Annotated[bool, Query(description="Also revoked and expired keys.")] = False,
) -> ApiKeyList:
    """A tenant admin sees its own tenant's keys; the platform admin any tenant's, or all of them."""
    scope = tenant if principal.platform_admin else _own_tenant(principal, tenant)
    records = await _store(request).list(
        scope, include_inactive=include_inactive, include_admin=principal.platform_admin
    )
    now = time.time()
    return ApiKeyList(keys=[r.info(now) for r in records])


@router.delete("/v1/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, request: Request, principal: KeyAdmin) -> Response:
    """Revoke a key (again is fine); a key the caller does not manage is not found."""
    store = _store(request)
    record = await store.get(key_id) if len(key_id) <= 32 else None
    if record is None or not _manages(principal, record):
        raise NotFound("no such API key", code="unknown_api_key")
    await store.revoke(record.id)
    return Response(status_code=204)
