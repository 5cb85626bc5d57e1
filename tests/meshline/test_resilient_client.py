"""ServiceClient against a real upstream served by uvicorn: deadlines, timeouts, retries, headers, streams."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from meshline.cli.ports import free_port
from meshline.errors import DeadlineExceeded, MeshlineError, ServiceUnavailable, UpstreamError
from meshline.resilience import RetryPolicy, ServiceClient, raise_for_problem
from meshline.service.context import RequestContext, bind_context
from meshline.testing.serve import serve_in_thread

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=1.0)


def problem(status: int, code: str, retryable: bool, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": f"https://meshline.dev/problems/{code}", "title": code, "status": status}
    body |= {"detail": f"upstream says {code}", "code": code, "retryable": retryable}
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def create_upstream() -> FastAPI:
    app = FastAPI()
    app.state.hits = {}
    app.state.keys = {}

    @app.api_route("/status/{key}", methods=["GET", "POST"])
    async def flaky(key: str, request: Request, fail: int = 0, code: int = 503, retry_after: str = "") -> Response:
        """Answers ``code`` for the first ``fail`` hits of ``key``, then 200."""
        hits = app.state.hits[key] = app.state.hits.get(key, 0) + 1
        app.state.keys.setdefault(key, []).append(request.headers.get("idempotency-key"))
        if hits <= fail:
            return problem(
                code, f"status_{code}", code in (429, 503), {"retry-after": retry_after} if retry_after else None
            )
        return JSONResponse({"attempts": hits})

    @app.get("/slow")
    async def slow(s: float, request: Request) -> dict[str, bool]:
        until = time.monotonic() + s
        while time.monotonic() < until:  # stop early once the client gave up: keeps teardown quick
            if await request.is_disconnected():
                return {"slept": False}
            await asyncio.sleep(0.05)
        return {"slept": True}

    @app.get("/trickle")
    async def trickle(n: int, gap: float) -> StreamingResponse:
        async def drip() -> AsyncIterator[bytes]:
            for _ in range(n):
                yield b"."
                await asyncio.sleep(gap)

        return StreamingResponse(drip(), media_type="text/plain")

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str]:
        return dict(request.headers)

    @app.get("/lines")
    async def lines(n: int, broken: bool = False) -> StreamingResponse:
        async def produce() -> AsyncIterator[bytes]:
            for i in range(n):
                yield f"line {i}\n".encode()
                await asyncio.sleep(0.01)
            if broken:
                raise RuntimeError("the upstream died mid-stream")

        return StreamingResponse(produce(), media_type="text/plain")

    @app.get("/conflict")
    async def conflict() -> JSONResponse:
        return problem(409, "version_conflict", False)

    @app.get("/overloaded")
    async def overloaded() -> JSONResponse:
        return problem(503, "overloaded", True, {"retry-after": "7"})

    @app.get("/plain/{status}")
    async def plain(status: int) -> PlainTextResponse:
        return PlainTextResponse("it broke", status)

    @app.get("/json-error")
    async def json_error() -> JSONResponse:
        return JSONResponse({"error": "bad thing"}, 400)

    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, FastAPI]]:
    app = create_upstream()
    with serve_in_thread(app) as url:
        yield url, app


@pytest.fixture
def url(upstream: tuple[str, FastAPI]) -> str:
    return upstream[0]


@pytest.fixture
def hits(upstream: tuple[str, FastAPI]) -> dict[str, int]:
    return upstream[1].state.hits  # type: ignore[no-any-return]


@pytest.fixture
async def client() -> AsyncIterator[ServiceClient]:
    bind_context(RequestContext())
    client = ServiceClient(timeout_s=5.0, retry=FAST_RETRY)
    yield client
    await client.aclose()


def new_key() -> str:
    return uuid.uuid4().hex


# --- deadlines and timeouts -------------------------------------------------------------------


async def test_remaining_deadline_caps_the_timeout(client: ServiceClient, url: str) -> None:
    bind_context(RequestContext(deadline=time.time() + 0.3))
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded) as caught:
        await client.request("GET", f"{url}/slow", params={"s": 5})
    elapsed = time.perf_counter() - start
    assert 0.25 < elapsed < 2.0, "the 0.3 s deadline, not the 5 s default, bounds the call"
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (504, "deadline_exceeded", True)


async def test_deadline_bounds_a_response_that_trickles(client: ServiceClient, url: str) -> None:
    # Each byte arrives within the read timeout; only a bound on the whole call stops this.
    bind_context(RequestContext(deadline=time.time() + 0.4))
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        await client.request("GET", f"{url}/trickle", params={"n": 100, "gap": 0.05})
    assert time.perf_counter() - start < 2.0


async def test_call_budget_bounds_a_response_that_trickles(client: ServiceClient, url: str) -> None:
    start = time.perf_counter()
    with pytest.raises(UpstreamError) as caught:
        await client.request("GET", f"{url}/trickle", params={"n": 100, "gap": 0.05}, timeout_s=0.4)
    assert time.perf_counter() - start < 2.0
    assert caught.value.code == "upstream_timeout"


async def test_passed_deadline_fails_before_sending(client: ServiceClient, url: str, hits: dict[str, int]) -> None:
    key = new_key()
    bind_context(RequestContext(deadline=time.time() - 0.01))
    with pytest.raises(DeadlineExceeded):
        await client.request("GET", f"{url}/status/{key}")
    assert key not in hits, "nothing may reach the upstream once the deadline has passed"


async def test_own_budget_times_out_as_upstream_timeout(client: ServiceClient, url: str) -> None:
    start = time.perf_counter()
    with pytest.raises(UpstreamError) as caught:
        await client.request("GET", f"{url}/slow", params={"s": 5}, timeout_s=0.2)
    assert time.perf_counter() - start < 2.0
    assert (caught.value.status, caught.value.code) == (502, "upstream_timeout")


async def test_budget_smaller_than_deadline_wins(client: ServiceClient, url: str) -> None:
    bind_context(RequestContext(deadline=time.time() + 10))
    with pytest.raises(UpstreamError) as caught:
        await client.request("GET", f"{url}/slow", params={"s": 5}, timeout_s=0.2)
    assert caught.value.code == "upstream_timeout"


async def test_retry_wait_that_would_pass_the_deadline_is_not_taken(
    client: ServiceClient, url: str, hits: dict[str, int]
) -> None:
    key = new_key()
    bind_context(RequestContext(deadline=time.time() + 0.3))
    start = time.perf_counter()
    response = await client.request("GET", f"{url}/status/{key}", params={"fail": 5, "retry_after": "1"})
    assert time.perf_counter() - start < 0.3
    assert response.status_code == 503
    assert hits[key] == 1


# --- retries ----------------------------------------------------------------------------------


async def test_connect_error_is_retried_then_service_unavailable(client: ServiceClient) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/status/x"
    with pytest.raises(ServiceUnavailable) as caught:
        await client.request("POST", dead_url, json={"a": 1})
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (503, "connect_failed", True)


async def test_connect_error_is_retried_until_the_upstream_comes_up() -> None:
    bind_context(RequestContext())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused for now
    client = ServiceClient(timeout_s=5.0, retry=RetryPolicy(max_attempts=100, base_delay_s=0.05, max_delay_s=0.05))
    try:
        with serve_in_thread(create_upstream(), sock=sock, start_after_s=0.3) as url:
            start = time.perf_counter()
            response = await client.request("POST", f"{url}/status/k", json={})
            assert time.perf_counter() - start >= 0.25
    finally:
        await client.aclose()
        sock.close()
    assert response.status_code == 200
    assert response.json() == {"attempts": 1}, "a refused connection never reached the app"


async def test_503_is_retried_then_succeeds(client: ServiceClient, url: str, hits: dict[str, int]) -> None:
    key = new_key()
    response = await client.request("GET", f"{url}/status/{key}", params={"fail": 2, "code": 503})
    assert response.status_code == 200
    assert response.json() == {"attempts": 3}
    assert hits[key] == 3


async def test_retries_stop_after_max_attempts(client: ServiceClient, url: str, hits: dict[str, int]) -> None:
    key = new_key()
    response = await client.request("GET", f"{url}/status/{key}", params={"fail": 10, "code": 503})
    assert response.status_code == 503
    assert hits[key] == FAST_RETRY.max_attempts


async def test_429_honours_retry_after(client: ServiceClient, url: str, hits: dict[str, int]) -> None:
    key = new_key()
    start = time.perf_counter()
    response = await client.request(
        "POST", f"{url}/status/{key}", params={"fail": 1, "code": 429, "retry_after": "0.3"}
    )
    elapsed = time.perf_counter() - start
    assert response.status_code == 200
    assert hits[key] == 2
    assert 0.3 <= elapsed < 1.5, "waited what Retry-After asked (backoff alone would be ~10 ms)"


async def test_post_502_is_not_retried_without_idempotency(
    client: ServiceClient, url: str, hits: dict[str, int]
) -> None:
    key = new_key()
    response = await client.request("POST", f"{url}/status/{key}", params={"fail": 1, "code": 502}, json={})
    assert response.status_code == 502
    assert hits[key] == 1, "a 502 may hide work already done"


async def test_post_502_is_retried_with_an_idempotency_key(
    client: ServiceClient, upstream: tuple[str, FastAPI]
) -> None:
    url, app = upstream
    key = new_key()
    response = await client.request(
        "POST", f"{url}/status/{key}", params={"fail": 2, "code": 502}, json={}, headers={"Idempotency-Key": "op-7"}
    )
    assert response.status_code == 200
    assert app.state.hits[key] == 3
    assert app.state.keys[key] == ["op-7", "op-7", "op-7"], "every attempt carries the same key"


async def test_post_504_is_retried_when_declared_idempotent(
    client: ServiceClient, url: str, hits: dict[str, int]
) -> None:
    key = new_key()
    response = await client.request("POST", f"{url}/status/{key}", params={"fail": 1, "code": 504}, idempotent=True)
    assert response.status_code == 200
    assert hits[key] == 2


async def test_get_502_is_retried(client: ServiceClient, url: str, hits: dict[str, int]) -> None:
    key = new_key()
    assert (await client.request("GET", f"{url}/status/{key}", params={"fail": 1, "code": 502})).status_code == 200
    assert hits[key] == 2


async def test_get_declared_not_idempotent_is_not_retried_on_502(
    client: ServiceClient, url: str, hits: dict[str, int]
) -> None:
    key = new_key()
    response = await client.request("GET", f"{url}/status/{key}", params={"fail": 1, "code": 502}, idempotent=False)
    assert response.status_code == 502
    assert hits[key] == 1


async def test_post_503_is_retried_without_idempotency(client: ServiceClient, url: str, hits: dict[str, int]) -> None:
    key = new_key()
    response = await client.request("POST", f"{url}/status/{key}", params={"fail": 1, "code": 503}, json={})
    assert response.status_code == 200
    assert hits[key] == 2, "a 503 means the upstream refused before doing any work"


async def test_client_errors_are_returned_without_retry(client: ServiceClient, url: str) -> None:
    response = await client.request("GET", f"{url}/conflict")
    assert response.status_code == 409


# --- headers ----------------------------------------------------------------------------------


async def test_context_headers_are_propagated(client: ServiceClient, url: str) -> None:
    deadline = time.time() + 10
    bind_context(RequestContext(trace_id=TRACE_ID, deadline=deadline))
    first = (await client.request("GET", f"{url}/echo", headers={"x-extra": "1"}, token="tok-for-target")).json()
    second = (await client.request("GET", f"{url}/echo")).json()
    assert re.fullmatch(rf"00-{TRACE_ID}-[0-9a-f]{{16}}-01", first["traceparent"])
    assert first["traceparent"] != second["traceparent"], "each hop is a new span of the same trace"
    assert first["x-meshline-deadline"] == f"{deadline:.3f}"
    assert first["authorization"] == "Bearer tok-for-target"
    assert "authorization" not in second, "no token given, none sent: nothing is forwarded from the context"
    assert first["x-extra"] == "1"


async def test_no_token_and_no_deadline_send_neither_header(client: ServiceClient, url: str) -> None:
    echoed = (await client.request("GET", f"{url}/echo")).json()
    assert "authorization" not in echoed
    assert "x-meshline-deadline" not in echoed
    assert "traceparent" in echoed


# --- streams ----------------------------------------------------------------------------------


async def test_stream_yields_lines(client: ServiceClient, url: str) -> None:
    async with client.stream("GET", f"{url}/lines?n=4") as response:
        assert response.status_code == 200
        lines = [line async for line in response.aiter_lines()]
    assert lines == ["line 0", "line 1", "line 2", "line 3"]


async def test_broken_stream_is_an_upstream_error(client: ServiceClient, url: str) -> None:
    received: list[str] = []
    with pytest.raises(UpstreamError) as caught:
        async with client.stream("GET", f"{url}/lines?n=3&broken=true") as response:
            async for line in response.aiter_lines():
                received.append(line)
    assert received == ["line 0", "line 1", "line 2"]
    assert caught.value.code == "stream_broken"
    assert "broke" in caught.value.detail


async def test_stream_headers_are_propagated(client: ServiceClient, url: str) -> None:
    bind_context(RequestContext(trace_id=TRACE_ID))
    async with client.stream("GET", f"{url}/echo", headers={"accept": "text/event-stream"}, token="tok") as response:
        echoed = json.loads(await response.aread())
    assert echoed["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert echoed["authorization"] == "Bearer tok"
    assert echoed["accept"] == "text/event-stream"


async def test_stream_to_a_dead_upstream_is_service_unavailable(client: ServiceClient) -> None:
    with pytest.raises(ServiceUnavailable):
        async with client.stream("POST", f"http://127.0.0.1:{free_port()}/lines", json={}):
            pytest.fail("no response can open")


async def test_stream_with_a_passed_deadline_fails_before_sending(client: ServiceClient, url: str) -> None:
    bind_context(RequestContext(deadline=time.time() - 1))
    with pytest.raises(DeadlineExceeded):
        async with client.stream("GET", f"{url}/lines?n=1"):
            pytest.fail("no response can open")


async def test_stream_that_stalls_past_its_budget_times_out(client: ServiceClient, url: str) -> None:
    start = time.perf_counter()
    with pytest.raises(UpstreamError) as caught:
        async with client.stream("GET", f"{url}/slow?s=5", timeout_s=0.2) as response:
            await response.aread()
    assert time.perf_counter() - start < 2.0
    assert caught.value.code == "upstream_timeout"


# --- raise_for_problem ------------------------------------------------------------------------


async def test_raise_for_problem_passes_success(client: ServiceClient, url: str) -> None:
    raise_for_problem(await client.request("GET", f"{url}/echo"))


async def test_raise_for_problem_maps_problem_json(client: ServiceClient, url: str) -> None:
    with pytest.raises(MeshlineError) as caught:
        raise_for_problem(await client.request("GET", f"{url}/conflict"))
    error = caught.value
    assert (error.status, error.code, error.retryable) == (409, "version_conflict", False)
    assert error.detail == "upstream says version_conflict"


async def test_raise_for_problem_keeps_retry_after(client: ServiceClient, url: str) -> None:
    single = ServiceClient(retry=RetryPolicy(max_attempts=1))
    response = await single.request("GET", f"{url}/overloaded")
    await single.aclose()
    with pytest.raises(MeshlineError) as caught:
        raise_for_problem(response)
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (503, "overloaded", True)
    assert caught.value.headers == {"retry-after": "7"}


@pytest.mark.parametrize(("status", "retryable"), [(500, False), (502, True), (504, True)])
async def test_raise_for_problem_maps_non_json_bodies(
    client: ServiceClient, url: str, status: int, retryable: bool
) -> None:
    response = await client.request("GET", f"{url}/plain/{status}", idempotent=False)
    with pytest.raises(MeshlineError) as caught:
        raise_for_problem(response)
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (status, "upstream_error", retryable)
    assert caught.value.detail == "it broke"


async def test_raise_for_problem_maps_json_that_is_not_a_problem(client: ServiceClient, url: str) -> None:
    with pytest.raises(MeshlineError) as caught:
        raise_for_problem(await client.request("GET", f"{url}/json-error"))
    assert (caught.value.status, caught.value.code) == (400, "upstream_error")
    assert "bad thing" in caught.value.detail


def test_raise_for_problem_uses_the_title_when_detail_is_missing() -> None:
    body: dict[str, Any] = {"title": "Too many requests", "status": 429, "code": "rate_limited"}
    response = httpx.Response(429, json=body, headers={"retry-after": "2"})
    with pytest.raises(MeshlineError) as caught:
        raise_for_problem(response)
    assert caught.value.detail == "Too many requests", "title stands in for a missing detail"
    assert caught.value.retryable is True
