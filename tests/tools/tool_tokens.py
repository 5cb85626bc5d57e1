"""The one place tool tests mint service tokens (so a change to ``ServiceTokenIssuer.issue`` is one edit here)."""

from __future__ import annotations

from collections.abc import Sequence

from meshline.service.auth import ServiceTokenIssuer
from meshline.service.scopes import TOOLS_CALL


def tool_token(
    private_key: str,
    audience: str,
    *,
    tenant: str = "dev",
    user: str = "dev",
    scopes: Sequence[str] = (TOOLS_CALL,),
) -> str:
    """A service token for the one tool service ``audience``, as the orchestrator mints one per hop."""
    return ServiceTokenIssuer(private_key).issue(tenant=tenant, user=user, scopes=scopes, audience=audience)


def tool_headers(private_key: str, audience: str, *, key: str | None = None, **claims: str) -> dict[str, str]:
    """Authorization (and, given ``key``, Idempotency-Key) headers of one tool call."""
    headers = {"authorization": f"Bearer {tool_token(private_key, audience, **claims)}"}
    if key is not None:
        headers["idempotency-key"] = key
    return headers
