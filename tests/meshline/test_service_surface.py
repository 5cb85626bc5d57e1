"""The surface every service shares beyond its API: /metrics behind a token, API docs only when enabled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from meshline.service.app import create_service_app
from meshline.service.settings import MeshSettings, ServiceSettings
from meshline.testing.asgi import asgi_client

TOKEN = "metrics-token-for-the-test"
DOCS = ("/docs", "/redoc", "/openapi.json")


@asynccontextmanager
async def service(tmp_path: Path, **mesh: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(name="widgets", mesh=MeshSettings(home=tmp_path, token_public_key=None, **mesh))
    app = create_service_app(settings=settings)
    async with asgi_client(app, "http://svc") as c:
        yield c


async def test_docs_and_openapi_are_not_served_by_default(tmp_path: Path) -> None:
    async with service(tmp_path) as client:
        for path in DOCS:
            assert (await client.get(path)).status_code == 404, path


async def test_docs_are_served_when_the_setting_enables_them(tmp_path: Path) -> None:
    async with service(tmp_path, docs=True) as client:
        for path in DOCS:
            assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic " + TOKEN, f"Bearer {TOKEN}x"])
async def test_metrics_refuse_a_scrape_without_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    async with service(tmp_path, metrics_token=SecretStr(TOKEN)) as client:
        with caplog.at_level(logging.INFO):
            refused = await client.get("/metrics", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] in {"missing_token", "invalid_token"}
    assert "meshline_http" not in refused.text
    assert not [r for r in caplog.records if r.exc_info]  # a refusal, not a crash


async def test_metrics_answer_the_token(tmp_path: Path) -> None:
    async with service(tmp_path, metrics_token=SecretStr(TOKEN)) as client:
        scraped = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    assert "# TYPE meshline_breaker_state" in scraped.text


async def test_a_service_on_a_public_address_without_a_metrics_token_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(name="widgets", host="0.0.0.0", mesh=MeshSettings(home=tmp_path, token_public_key=None))
    app = create_service_app(settings=settings)
    with caplog.at_level(logging.WARNING, logger="meshline.service"):
        async with app.router.lifespan_context(app):
            pass
    assert any("MESHLINE_METRICS_TOKEN" in r.getMessage() for r in caplog.records)
