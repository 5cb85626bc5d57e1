"""An HTTP client on an app in this process: its lifespan run, requests sent over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette


@asynccontextmanager
async def asgi_client(
    app: Starlette,
    base_url: str = "http://testserver",
    headers: dict[str, str] | None = None,
    *,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[httpx.AsyncClient]:
    """Enter ``app``'s lifespan (startup before the first request, shutdown after the last) and
    yield an ``httpx.AsyncClient`` whose requests go straight to it, with no socket.

    ``raise_app_exceptions=False`` turns an unhandled exception into the 500 a real server sends.
    """
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client,
    ):
        yield client
