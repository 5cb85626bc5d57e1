"""The LLM layer's model registry and usage ledger, reached through the orchestrator's public API.

API keys live here, not in the LLM layer: the key's scope is checked, then the call is
forwarded with a short-lived service token for ``llm`` carrying the key's tenant and scopes.
Paths mirror the LLM layer's: ``/v1/admin/models...`` (scope ``admin``) and ``/v1/usage``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from meshline.errors import BadRequest
from meshline.orchestrator.auth import Principal, require_scope
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience import ServiceClient
from meshline.service import ADMIN, USAGE_READ, ServiceTokenIssuer

router = APIRouter(tags=["models"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]
Chat = Annotated[Principal, Depends(require_scope("chat"))]


async def _forward(request: Request, principal: Principal, method: str, path: str, *, body: Any = None) -> JSONResponse:
    settings: OrchestratorSettings = request.app.state.settings
    issuer: ServiceTokenIssuer = request.app.state.issuer
    client: ServiceClient = request.app.state.client
    # Model administration for a platform admin; otherwise only the tenant's own usage report.
    scopes = [ADMIN, USAGE_READ] if ADMIN in principal.scopes else [USAGE_READ]
    token = issuer.issue(tenant=principal.tenant, user=acting_user(principal, None).user, scopes=scopes, audience="llm")
    # Not retried: deploy/promote/rollback change state, and admins see failures at once.
    response = await client.request(
        method,
        f"{settings.mesh.llm_url.rstrip('/')}{path}",
        token=token,
        json=body,
        params=dict(request.query_params),
        timeout_s=settings.models_admin_timeout_s,
        idempotent=method == "GET",
    )
    media = response.headers.get("content-type", "application/json")
    return JSONResponse(response.json(), status_code=response.status_code, media_type=media.split(";")[0])


@router.get("/v1/admin/models")
async def list_models(request: Request, principal: Admin) -> JSONResponse:
    """Aliases, versions, weights, health and recent events (from the LLM layer)."""
    return await _forward(request, principal, "GET", "/v1/admin/models")


@router.get("/v1/admin/models/history")
async def model_history(request: Request, principal: Admin) -> JSONResponse:
    return await _forward(request, principal, "GET", "/v1/admin/models/history")


@router.post("/v1/admin/models/{alias}/{action}")
async def change_model(alias: str, action: str, request: Request, principal: Admin) -> JSONResponse:
    """``deploy``, ``promote`` or ``rollback``; the LLM layer validates the body."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise BadRequest("the body is not valid JSON", code="malformed_json") from exc
    return await _forward(request, principal, "POST", f"/v1/admin/models/{alias}/{action}", body=body)


@router.get("/v1/usage")
async def usage(request: Request, principal: Chat) -> JSONResponse:
    """Tokens and cost of the key's tenant (an admin key may ask for ``?tenant=``)."""
    return await _forward(request, principal, "GET", "/v1/usage")
