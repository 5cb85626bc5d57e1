"""The bundled tool services in-process over HTTP, each with its own real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from meshline.testing.asgi import asgi_client
from meshline.tools.commerce.app import create_app as create_commerce
from meshline.tools.commerce.settings import CommerceSettings
from meshline.tools.crm.app import create_app as create_crm
from meshline.tools.crm.settings import CRMSettings
from tests.tools.tool_tokens import tool_headers

DEMO_CUSTOMERS = 20


@pytest.fixture
async def commerce(mesh_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_commerce(CommerceSettings(demo_customers=DEMO_CUSTOMERS))
    async with asgi_client(app, "http://commerce.test") as http:
        yield http


@pytest.fixture
async def crm(mesh_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_crm(CRMSettings(demo_customers=DEMO_CUSTOMERS))
    async with asgi_client(app, "http://crm.test") as http:
        yield http


@pytest.fixture
def auth(request: pytest.FixtureRequest, token_keys: tuple[str, str]) -> Callable[..., dict[str, str]]:
    """Headers of a call made for ``user`` (default ``dev``) of ``tenant`` (default ``dev``), with an
    optional Idempotency-Key; the audience is one service: ``commerce-tools`` in a test that uses
    the ``commerce`` fixture, else ``crm``, unless given."""
    default = "commerce-tools" if "commerce" in request.fixturenames else "crm"

    def headers(
        user: str = "dev", key: str | None = None, audience: str = default, tenant: str = "dev"
    ) -> dict[str, str]:
        return tool_headers(token_keys[0], audience, key=key, tenant=tenant, user=user)

    return headers
