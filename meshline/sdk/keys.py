"""``client.keys``: mint, list and revoke API keys (a ``tenant_admin`` or platform ``admin`` key).

A tenant admin manages its own tenant's keys (scopes chat, ingest, act_as_user, tenant_admin);
the platform admin any tenant's, and alone mints ``admin`` (onto keys of the platform tenant).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from meshline.contracts import CHAT, ApiKey, ApiKeyInfo, ApiKeyList, CreateApiKey
from meshline.json_types import JsonObject
from meshline.sdk import _common as common

if TYPE_CHECKING:
    from meshline.sdk.async_client import AsyncClient
    from meshline.sdk.client import Client


def create_body(
    tenant: str | None,
    scopes: Sequence[str],
    user: str | None,
    name: str | None,
    expires_at: datetime | None,
    ttl_s: int | None,
    rate_limit_rps: float | None = None,
    max_concurrent_turns: int | None = None,
) -> JsonObject:
    """A validated ``POST /v1/keys`` body; bad arguments fail here, before any request is made."""
    fields = {
        "tenant": tenant,
        "user": user,
        "name": name,
        "expires_at": expires_at,
        "ttl_s": ttl_s,
        "rate_limit_rps": rate_limit_rps,
        "max_concurrent_turns": max_concurrent_turns,
    }
    request = common.validated(CreateApiKey, scopes=list(scopes), **{k: v for k, v in fields.items() if v is not None})
    return request.model_dump(mode="json", exclude_none=True)


def list_path(tenant: str | None, include_inactive: bool) -> str:
    params: dict[str, str] = {}
    if tenant is not None:
        params["tenant"] = tenant
    if include_inactive:
        params["include_inactive"] = "true"
    return "/v1/keys" + (f"?{urlencode(params)}" if params else "")


def key_path(key_id: str) -> str:
    return f"/v1/keys/{quote(key_id, safe='')}"


class Keys:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        tenant: str | None = None,
        scopes: Sequence[str] = (CHAT,),
        user: str | None = None,
        name: str | None = None,
        *,
        expires_at: datetime | None = None,
        ttl_s: int | None = None,
        rate_limit_rps: float | None = None,
        max_concurrent_turns: int | None = None,
    ) -> ApiKey:
        """A new key (``tenant`` defaults to the caller's own); its secret, ``.key``, is shown this once.

        ``user`` binds the key to one end user; ``expires_at`` (aware) or ``ttl_s`` make it expire;
        ``rate_limit_rps`` and ``max_concurrent_turns`` give it its own limits (a tenant admin: at most
        its tenant's).
        """
        body = create_body(tenant, scopes, user, name, expires_at, ttl_s, rate_limit_rps, max_concurrent_turns)
        response = self._client._request("POST", "/v1/keys", json=body)
        return ApiKey.model_validate_json(response.content)

    def list(self, tenant: str | None = None, *, include_inactive: bool = False) -> list[ApiKeyInfo]:
        """Keys of the caller's tenant (platform admin: of ``tenant``, or of every tenant), newest first."""
        response = self._client._request("GET", list_path(tenant, include_inactive))
        return ApiKeyList.model_validate_json(response.content).keys

    def revoke(self, key_id: str) -> None:
        """Revoke a key on every orchestrator replica; ``NotFoundError`` for a key the caller does not manage."""
        self._client._request("DELETE", key_path(key_id))


class AsyncKeys:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        tenant: str | None = None,
        scopes: Sequence[str] = (CHAT,),
        user: str | None = None,
        name: str | None = None,
        *,
        expires_at: datetime | None = None,
        ttl_s: int | None = None,
        rate_limit_rps: float | None = None,
        max_concurrent_turns: int | None = None,
    ) -> ApiKey:
        """A new key (``tenant`` defaults to the caller's own); its secret, ``.key``, is shown this once."""
        body = create_body(tenant, scopes, user, name, expires_at, ttl_s, rate_limit_rps, max_concurrent_turns)
        response = await self._client._request("POST", "/v1/keys", json=body)
        return ApiKey.model_validate_json(response.content)

    async def list(self, tenant: str | None = None, *, include_inactive: bool = False) -> list[ApiKeyInfo]:
        """Keys of the caller's tenant (platform admin: of ``tenant``, or of every tenant), newest first."""
        response = await self._client._request("GET", list_path(tenant, include_inactive))
        return ApiKeyList.model_validate_json(response.content).keys

    async def revoke(self, key_id: str) -> None:
        """Revoke a key on every orchestrator replica; ``NotFoundError`` for a key the caller does not manage."""
        await self._client._request("DELETE", key_path(key_id))
