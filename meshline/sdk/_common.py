"""What the sync and async clients share: request bodies, headers, timeouts, stream event parsing."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from meshline import __version__
from meshline.contracts import ChatRequest, ProblemDetails, StreamEvent
from meshline.json_types import JsonObject
from meshline.sdk.errors import APIConnectionError, InvalidRequestError
from meshline.sdk.models import Readiness
from meshline.sse import SSE_MEDIA_TYPE, SSEMessage

CONNECT_TIMEOUT_S = 5.0
# The server enforces a turn's deadline; the client waits a little longer so that it receives
# the server's own deadline error rather than cutting the connection first.
DEADLINE_GRACE_S = 10.0
EVENT_TYPES = frozenset({"route", "delta", "reset", "tool", "done", "error"})
STREAM_EVENT: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)
M = TypeVar("M", bound=BaseModel)


def default_headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": f"meshline-python/{__version__}", "accept": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def client_timeout(timeout: float) -> httpx.Timeout:
    return httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_S, timeout))


def turn_timeout(default: float, timeout_s: float | None) -> httpx.Timeout:
    """The HTTP timeout of one chat turn whose server-side deadline is ``timeout_s``."""
    return client_timeout(default if timeout_s is None else timeout_s + DEADLINE_GRACE_S)


def chat_body(
    message: str,
    *,
    thread_id: str | None,
    agent: str | None,
    user: str | None,
    timeout_s: float | None,
    stream: bool,
) -> JsonObject:
    """A validated ``ChatRequest`` body; invalid arguments fail here, before any request is made."""
    request = validated(
        ChatRequest, message=message, thread_id=thread_id, agent=agent, user=user, timeout_s=timeout_s, stream=stream
    )
    return request.model_dump(mode="json", exclude_none=True)


def validated(model: type[M], **fields: Any) -> M:
    """``model(**fields)``, or the InvalidRequestError (422) the server would answer, without asking it."""
    try:
        return model(**fields)
    except ValidationError as exc:
        problem = ProblemDetails(
            title="Invalid request",
            status=422,
            detail=str(exc),
            code="validation_error",
            errors=list(exc.errors(include_url=False, include_context=False)),
        )
        raise InvalidRequestError(problem) from exc


def stream_headers() -> dict[str, str]:
    return {"accept": SSE_MEDIA_TYPE}


def parse_event(message: SSEMessage) -> StreamEvent | None:
    """The typed event of one SSE message; None for comments, keep-alives and unknown event types."""
    if not message.data:
        return None
    try:
        payload = json.loads(message.data)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    payload.setdefault("type", message.event)
    if payload["type"] not in EVENT_TYPES:
        return None
    return STREAM_EVENT.validate_python(payload)


def incomplete_stream(url: str) -> APIConnectionError:
    problem = ProblemDetails(
        title="Stream ended early",
        status=0,
        detail=f"the stream from {url} closed before its final event",
        code="stream_incomplete",
        retryable=True,
    )
    return APIConnectionError(problem)


def readiness_from(response: httpx.Response) -> Readiness:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    checks = body.get("checks") if isinstance(body.get("checks"), dict) else {}
    return Readiness(
        ready=response.status_code == 200,
        status=str(body.get("status", response.status_code)),
        checks={str(k): str(v) for k, v in (checks or {}).items()},
    )
