"""A small stand-in for the orchestrator's public API, served for real over HTTP by uvicorn.

The SDK and CLI tests talk to it through real sockets; it answers like the orchestrator does:
JSON bodies, SSE streams and ``application/problem+json`` errors.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from meshline.contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    ResetEvent,
    RouteDecision,
    RouteEvent,
    ThreadView,
)
from meshline.contracts.problem import ProblemDetails
from meshline.sse import encode_sse
from meshline.testing.serve import serve_in_thread

GOOD_KEY = "ml_good"
ROUTE = RouteDecision(agents=["general"], method="examples", confidence=0.9)


def problem(status: int, title: str, detail: str, code: str, retryable: bool = False) -> JSONResponse:
    body = ProblemDetails(
        title=title, status=status, detail=detail, code=code, retryable=retryable, trace_id="trace-123"
    )
    return JSONResponse(body.model_dump(exclude_none=True), status, media_type="application/problem+json")


class KeyRequest(BaseModel):
    tenant: str = Field(min_length=1)
    scopes: list[str]
    user: str | None = None


def create_standin() -> FastAPI:
    app = FastAPI()
    app.state.services = {}

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/v1/") and request.headers.get("authorization") != f"Bearer {GOOD_KEY}":
            return problem(401, "Unauthorized", "unknown API key", "invalid_api_key")
        response: Response = await call_next(request)
        return response

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        return {"status": "ready", "service": "orchestrator", "checks": {"redis": "ok"}}

    @app.post("/v1/chat", response_model=None)
    async def chat(body: ChatRequest) -> Response:
        thread_id = body.thread_id or "t-new"
        words = ["Hel", "lo ", body.message]
        reply = ChatResponse(thread_id=thread_id, turn_id="turn-1", content="".join(words), route=ROUTE)
        if not body.stream:
            return JSONResponse(reply.model_dump(mode="json"))

        async def events() -> AsyncIterator[bytes]:
            yield encode_sse(RouteEvent(thread_id=thread_id, route=ROUTE).model_dump_json(), "route")
            yield b": keep-alive\n\n"
            if body.message == "boom":
                failure = ProblemDetails(
                    title="Service unavailable",
                    status=503,
                    detail="every agent is down",
                    code="unavailable",
                    retryable=True,
                )
                yield encode_sse(ErrorEvent(problem=failure).model_dump_json(), "error")
                return
            if body.message == "redo":  # an attempt that breaks off, then the answer that counts
                yield encode_sse(DeltaEvent(text="Half a", agent="general").model_dump_json(), "delta")
                yield encode_sse(ResetEvent(agent="general", reason="failed").model_dump_json(), "reset")
            for word in words:
                yield encode_sse(DeltaEvent(text=word, agent="general").model_dump_json(), "delta")
            if body.message != "cut":
                yield encode_sse(DoneEvent(response=reply).model_dump_json(), "done")

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/threads/{thread_id}", response_model=None)
    async def get_thread(thread_id: str) -> Response:
        if thread_id == "missing":
            return problem(404, "Not found", "no thread 'missing'", "unknown_thread")
        if thread_id == "plain500":
            return Response("it broke", status_code=500, media_type="text/plain")
        view = ThreadView(thread_id=thread_id, messages=[ChatMessage(role="user", content="hi")])
        return JSONResponse(view.model_dump(mode="json"))

    @app.delete("/v1/threads/{thread_id}", status_code=204)
    async def delete_thread(thread_id: str) -> None:
        return None

    @app.post("/v1/services", status_code=201)
    async def register(body: dict[str, str]) -> dict[str, Any]:
        url = body["url"]
        name = url.split("//")[1].split(":")[0]
        healthy = "down" not in url
        entry = {
            "name": name,
            "kind": "agent",
            "description": f"{name} agent",
            "version": "1.0.0",
            "instances": [
                {
                    "url": url,
                    "healthy": healthy,
                    "last_error": None if healthy else "readyz answered 503",
                    "checked_at": time.time(),
                }
            ],
        }
        app.state.services[name] = entry
        return entry

    @app.get("/v1/services")
    async def list_services() -> dict[str, Any]:
        return {"services": list(app.state.services.values())}

    @app.delete("/v1/services/{name}", status_code=204, response_model=None)
    async def remove(name: str) -> Response:
        if app.state.services.pop(name, None) is None:
            return problem(404, "Not found", f"no service named {name!r}", "unknown_service")
        return Response(status_code=204)

    @app.post("/v1/keys", status_code=201)
    async def create_key(body: KeyRequest) -> dict[str, Any]:
        created = {"key": "ml_new", "id": "k1", "tenant": body.tenant, "user": body.user, "scopes": body.scopes}
        return created | {"created_at": "2026-01-01T00:00:00Z"}

    return app


@contextmanager
def serve_standin() -> Iterator[tuple[str, FastAPI]]:
    """(base URL, app) of the stand-in, running in a background thread until the block ends."""
    app = create_standin()
    with serve_in_thread(app) as url:
        yield url, app
