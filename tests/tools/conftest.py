"""The bundled tool services in-process over HTTP, each with its own real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from meshline.tools.commerce.app import create_app as create_commerce
from meshline.tools.commerce.settings import CommerceSettings
from meshline.tools.crm.app import create_app as create_crm
from meshline.tools.crm.settings import CRMSettings

DEMO_CUSTOMERS = 20


@pytest.fixture
async def commerce(mesh_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_commerce(CommerceSettings(demo_customers=DEMO_CUSTOMERS))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://commerce.test") as http:
            yield http


@pytest.fixture
async def crm(mesh_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_crm(CRMSettings(demo_customers=DEMO_CUSTOMERS))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as http:
            yield http


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """Headers of a call made for ``user`` (default ``dev``), with an optional Idempotency-Key."""

    def headers(
        user: str = "dev", key: str | None = None, audience: tuple[str, ...] = ("commerce-tools",)
    ) -> dict[str, str]:
        # A service token has one audience: CRM calls pass audience=("crm",).
        out = {"authorization": f"Bearer {issue_token(audience=list(audience), tenant='dev', user=user)}"}
        if key is not None:
            out["idempotency-key"] = key
        return out

    return headers
