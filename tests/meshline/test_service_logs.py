"""Service logs: each line carries the service, the request's trace id and tenant; JSON on request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from meshline.service.app import create_service_app
from meshline.service.context import bound_context, current_context
from meshline.service.logs import LogFormat, log_handler
from meshline.service.settings import MeshSettings, ServiceSettings
from meshline.testing.asgi import asgi_client

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
log = logging.getLogger(__name__)


def noisy_router() -> APIRouter:
    router = APIRouter()

    @router.get("/work")
    async def work() -> dict[str, str]:
        current_context().tenant = "acme"  # as the token check binds it
        log.info("did the work", extra={"order": "o-7"})
        return {"status": "done"}

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    return router


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = ServiceSettings(name="widgets", mesh=MeshSettings(home=tmp_path, token_public_key=None))
    return create_service_app(settings=settings, routers=[noisy_router()])


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, "http://svc", raise_app_exceptions=False) as c:
        yield c


def capture(log_format: LogFormat) -> Iterator[io.StringIO]:
    """Root logging through the service handler, into a buffer, for one test."""
    buffer = io.StringIO()
    handler = log_handler("widgets", log_format, buffer)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def text_logs() -> Iterator[io.StringIO]:
    yield from capture("text")


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    yield from capture("json")


def json_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


async def test_a_request_logs_a_line_carrying_its_trace_id_tenant_and_service(
    client: httpx.AsyncClient, text_logs: io.StringIO
) -> None:
    response = await client.get("/work", headers=TRACEPARENT)
    assert response.status_code == 200
    (line,) = [line for line in text_logs.getvalue().splitlines() if "did the work" in line]
    assert f"trace={TRACE_ID}" in line
    assert "tenant=acme" in line
    assert "[widgets " in line


async def test_a_500_names_the_trace_id_its_failure_is_logged_under(
    client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    response = await client.get("/crash")
    assert response.status_code == 500
    trace_id = response.json()["trace_id"]
    assert "identifies the failure in its logs" in response.json()["detail"]
    failures = [line for line in json_lines(json_logs) if line["level"] == "ERROR"]
    assert len(failures) == 1
    assert failures[0]["trace_id"] == trace_id
    assert failures[0]["service"] == "widgets"
    assert "RuntimeError: boom" in str(failures[0]["exception"])


async def test_json_lines_parse_and_keep_the_extras(client: httpx.AsyncClient, json_logs: io.StringIO) -> None:
    await client.get("/work", headers=TRACEPARENT)
    (line,) = [line for line in json_lines(json_logs) if line["message"] == "did the work"]
    assert line["trace_id"] == TRACE_ID
    assert line["tenant"] == "acme"
    assert line["service"] == "widgets"
    assert line["logger"] == __name__
    assert line["level"] == "INFO"
    assert line["order"] == "o-7"


def test_outside_a_request_the_fields_are_dashes_and_no_context_is_bound(json_logs: io.StringIO) -> None:
    assert bound_context() is None
    log.warning("starting up")
    (line,) = json_lines(json_logs)
    assert (line["trace_id"], line["tenant"], line["service"]) == ("-", "-", "widgets")
    assert bound_context() is None


def test_the_log_format_is_a_mesh_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MeshSettings().log_format == "text"
    monkeypatch.setenv("MESHLINE_LOG_FORMAT", "json")
    assert MeshSettings().log_format == "json"
