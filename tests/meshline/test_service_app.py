"""create_service_app: ops endpoints, problem+json errors, body limits, metrics and request context."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field, ValidationError

from meshline.errors import NotFound, RateLimited
from meshline.service.app import add_readiness_check, create_service_app
from meshline.service.context import current_context
from meshline.service.settings import MeshSettings, ServiceSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.serve import serve_in_thread

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 1024
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Widget(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


def widget_router() -> APIRouter:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @router.post("/widgets")
    async def create_widget(widget: Widget) -> dict[str, Any]:
        return {"name": widget.name, "qty": widget.qty}

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("no widget 'w-1'", code="unknown_widget")

    @router.get("/busy")
    async def busy() -> None:
        raise RateLimited("slow down", headers={"retry-after": "3"})

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("password=hunter2 leaked in a crash")

    @router.get("/slow")
    async def slow(request: Request) -> dict[str, str]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            request.app.state.cancelled = True
            raise
        return {"status": "finished"}

    @router.get("/context")
    async def context() -> dict[str, Any]:
        ctx = current_context()
        return {"trace_id": ctx.trace_id, "deadline": ctx.deadline, "remaining": ctx.remaining()}

    return router


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    mesh = MeshSettings(home=tmp_path, max_body_bytes=MAX_BODY, token_public_key=None)
    return create_service_app(settings=ServiceSettings(name="widgets", mesh=mesh), routers=[widget_router()])


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: the crash test needs the 500 response, as a real server would send it.
    async with asgi_client(app, "http://svc", raise_app_exceptions=False) as c:
        yield c


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"]
    return body


async def test_healthz_names_the_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "widgets"}


async def test_readyz_is_ready_when_every_check_passes(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def ok() -> bool:
        return True

    add_readiness_check(app, "redis", ok)
    add_readiness_check(app, "chroma", ok)
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "service": "widgets", "checks": {"redis": "ok", "chroma": "ok"}}


async def test_readyz_reports_each_failing_or_hanging_check(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "readiness_timeout_s", 0.2)

    async def ok() -> None:
        return None

    async def refused() -> None:
        raise ConnectionRefusedError("redis at 127.0.0.1:1 refused")

    async def hangs() -> None:
        await asyncio.sleep(30)

    add_readiness_check(app, "chroma", ok)
    add_readiness_check(app, "redis", refused)
    add_readiness_check(app, "llm", hangs)
    start = time.perf_counter()
    response = await client.get("/readyz")
    assert time.perf_counter() - start < 2, "a hanging check must be cut at its timeout"
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    checks = body["checks"]
    assert checks["chroma"] == "ok"
    assert checks["redis"].startswith("error: ConnectionRefusedError")
    assert "refused" in checks["redis"]
    assert checks["llm"].startswith("error: TimeoutError")


async def test_metrics_count_requests_per_route_template(client: httpx.AsyncClient) -> None:
    for item_id in (41, 42, 43):
        assert (await client.get(f"/items/{item_id}")).status_code == 200
    assert (await client.get("/missing")).status_code == 404
    text = (await client.get("/metrics")).text
    template = 'method="GET",route="/items/{item_id}",service="widgets"'
    assert re.search(r"meshline_http_requests_total\{" + re.escape(template) + r',status="200"\} 3\.0', text)
    assert f"meshline_http_request_duration_seconds_count{{{template}}} 3.0" in text
    assert f'meshline_http_request_duration_seconds_bucket{{le="+Inf",{template}}} 3.0' in text
    assert "/items/42" not in text, "raw paths would explode the label cardinality"
    assert 'route="/missing",service="widgets",status="404"} 1.0' in text


async def test_an_unknown_method_is_counted_under_one_label(client: httpx.AsyncClient) -> None:
    """Methods a client makes up do not grow the metrics: they all count as ``other``."""
    for method in ("FROBNICATE", "X-1", "frobnicate"):
        assert (await client.request(method, "/items/1")).status_code == 405
    text = (await client.get("/metrics")).text
    assert 'method="other",route="/items/{item_id}",service="widgets",status="405"} 3.0' in text
    assert "FROBNICATE" not in text and "frobnicate" not in text


async def test_meshline_error_becomes_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/missing")
    body = assert_problem(response, 404, "unknown_widget")
    assert body["detail"] == "no widget 'w-1'"
    assert body["retryable"] is False
    assert body["instance"] == "/missing"
    assert body["trace_id"] == response.headers["x-trace-id"]


async def test_meshline_error_headers_reach_the_response(client: httpx.AsyncClient) -> None:
    response = await client.get("/busy")
    body = assert_problem(response, 429, "rate_limited")
    assert body["retryable"] is True
    assert response.headers["retry-after"] == "3"


async def test_validation_error_is_422_with_an_errors_list(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"qty": 0})
    body = assert_problem(response, 422, "validation_error")
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "name") in locs
    assert ("body", "qty") in locs
    assert all(isinstance(e["msg"], str) and e["type"] for e in body["errors"])
    assert "body.qty" in body["detail"]


async def test_path_parameter_of_the_wrong_type_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/items/abc"), 422, "validation_error")
    assert [e["loc"] for e in body["errors"]] == [["path", "item_id"]]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", content=b'{"name": "bolt", ', headers={"content-type": "application/json"})
    body = assert_problem(response, 400, "malformed_json")
    assert body["errors"]


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nowhere"), 404, "not_found")
    assert body["instance"] == "/nowhere"


async def test_wrong_method_is_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_crash_is_500_problem_without_the_exception_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/crash", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    # The trace id in the answer is the one the failure is logged under.
    assert body["trace_id"] == TRACE_ID
    assert response.headers["x-trace-id"] == TRACE_ID


async def test_crash_is_counted_as_a_500(client: httpx.AsyncClient) -> None:
    await client.get("/crash")
    text = (await client.get("/metrics")).text
    assert 'meshline_http_errors_total{method="GET",route="/crash",service="widgets",status="500"} 1.0' in text


async def test_body_over_the_limit_by_content_length_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=b"x" * (MAX_BODY + 1))
    body = assert_problem(response, 413, "payload_too_large")
    assert str(MAX_BODY) in body["detail"]


async def test_body_at_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=b"x" * MAX_BODY)
    assert response.status_code == 200
    assert response.json() == {"size": MAX_BODY}


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 256

    response = await client.post("/upload", content=chunks())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


async def test_chunked_json_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(8):
            yield b"z" * 256
        yield b'", "qty": 1}'

    assert_problem(await client.post("/widgets", content=chunks()), 413, "payload_too_large")


async def test_trace_id_is_generated_and_echoed(client: httpx.AsyncClient) -> None:
    first = await client.get("/context")
    second = await client.get("/context")
    for response in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-trace-id"])
        assert response.json()["trace_id"] == response.headers["x-trace-id"]
    assert first.headers["x-trace-id"] != second.headers["x-trace-id"]


async def test_traceparent_trace_id_is_honoured(client: httpx.AsyncClient) -> None:
    response = await client.get("/context", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    assert response.headers["x-trace-id"] == TRACE_ID
    assert response.json()["trace_id"] == TRACE_ID


async def test_malformed_traceparent_starts_a_new_trace(client: httpx.AsyncClient) -> None:
    response = await client.get("/context", headers={"traceparent": "00-not-a-trace-01"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-trace-id"])


async def test_deadline_header_is_parsed_into_the_context(client: httpx.AsyncClient) -> None:
    deadline = time.time() + 5
    body = (await client.get("/context", headers={"x-meshline-deadline": f"{deadline:.3f}"})).json()
    assert body["deadline"] == pytest.approx(deadline, abs=0.001)
    assert 3 < body["remaining"] <= 5


async def test_unparsable_deadline_is_ignored(client: httpx.AsyncClient) -> None:
    body = (await client.get("/context", headers={"x-meshline-deadline": "soon"})).json()
    assert body["deadline"] is None
    assert body["remaining"] is None


async def test_work_past_the_deadline_is_cancelled_with_a_504_problem(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.cancelled = False
    start = time.perf_counter()
    response = await client.get("/slow", headers={"x-meshline-deadline": f"{time.time() + 0.3:.3f}"})
    assert time.perf_counter() - start < 5, "the handler must be cut at the caller's deadline"
    assert_problem(response, 504, "deadline_exceeded")
    assert app.state.cancelled, "the handler's work is cancelled, not left running"


async def test_a_request_arriving_after_its_deadline_is_refused_at_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/1", headers={"x-meshline-deadline": f"{time.time() - 1:.3f}"})
    assert_problem(response, 422, "deadline_passed")
    assert response.json()["retryable"] is False, "the same deadline can only fail again"


async def test_the_kit_exposes_resilience_metrics(client: httpx.AsyncClient) -> None:
    body = (await client.get("/metrics")).text
    for name in ("meshline_breaker_state", "meshline_bulkhead_in_use", "meshline_retries", "meshline_fallbacks"):
        assert f"# TYPE {name}" in body


def test_a_crash_does_not_break_the_next_request_on_the_same_connection(app: FastAPI) -> None:
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=5) as http:
        assert http.get("/crash").status_code == 500
        assert http.get("/items/7").json() == {"item_id": 7}  # same keep-alive connection
        assert http.get("/crash").status_code == 500
        assert http.get("/items/8").json() == {"item_id": 8}


async def test_a_service_process_freezes_its_startup_heap_and_a_test_app_does_not(tmp_path: Path) -> None:
    mesh = MeshSettings(home=tmp_path, token_public_key=None)
    for freeze in (False, True):
        app = create_service_app(settings=ServiceSettings(name="widgets", mesh=mesh))
        app.state.freeze_heap = freeze  # what run_service sets
        gc.unfreeze()
        async with app.router.lifespan_context(app):
            assert (gc.get_freeze_count() > 0) is freeze
        gc.unfreeze()


async def test_the_readiness_timeout_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHLINE_SERVICE_READINESS_TIMEOUT_S", "0.2")
    settings = ServiceSettings(name="widgets", mesh=MeshSettings(home=tmp_path, token_public_key=None))
    assert settings.readiness_timeout_s == 0.2
    app = create_service_app(settings=settings)

    async def hangs() -> None:
        await asyncio.sleep(30)

    add_readiness_check(app, "llm", hangs)
    async with asgi_client(app, "http://svc") as client:
        start = time.perf_counter()
        response = await client.get("/readyz")
    assert time.perf_counter() - start < 2, "the check is cut at the configured timeout"
    assert response.status_code == 503
    assert response.json()["checks"]["llm"].startswith("error: TimeoutError")


@pytest.mark.parametrize("value", ["0", "-1", "61"])
def test_the_readiness_timeout_must_be_positive_and_bounded(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHLINE_SERVICE_READINESS_TIMEOUT_S", value)
    with pytest.raises(ValidationError, match="readiness_timeout_s"):
        ServiceSettings()
