"""Chat completions through the router: one whole response, or chunks relayed as server-sent events.

A stream is opened and its first chunk awaited before the response starts, so a provider that
fails up front still gets a real HTTP status. After that, chunks go out as they arrive; a
failure mid-way becomes an ``event: error`` carrying a problem, and the stream ends there.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse
from litellm.router import Router
from litellm.types.utils import ModelResponse

from meshline.agents.llm.provider_errors import provider_error
from meshline.errors import DeadlineExceeded, MeshlineError, UpstreamError
from meshline.service.context import current_context
from meshline.service.problems import problem_for
from meshline.sse import SSE_MEDIA_TYPE, encode_sse

log = logging.getLogger("meshline.llm")
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def call_timeout(budget_s: float) -> float:
    """The provider timeout: the configured budget, capped by what is left of the request's deadline."""
    remaining = current_context().remaining()
    if remaining is None:
        return budget_s
    if remaining <= 0:
        raise DeadlineExceeded("the request's deadline passed before the model was called")
    return min(budget_s, remaining)


def _mapped(alias: str, exc: Exception) -> MeshlineError:
    error: MeshlineError | None = provider_error(exc)
    if error is None:
        raise exc  # not a provider failure: a bug, reported as 500 by the kit
    log.warning("model %r failed: %s (%s)", alias, error.detail, error.code)
    return error


async def complete(router: Router, alias: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    """One non-streamed completion, as OpenAI's ``chat.completion`` JSON."""
    try:
        response = await router.acompletion(model=alias, messages=messages, **params)  # type: ignore[arg-type]
    except Exception as exc:
        raise _mapped(alias, exc) from exc
    if not isinstance(response, ModelResponse):
        raise UpstreamError(f"model {alias!r} answered with {type(response).__name__}", code="provider_error")
    body: dict[str, Any] = response.model_dump(mode="json")
    return body


def _chunk_event(chunk: Any) -> bytes:
    return encode_sse(json.dumps(chunk.model_dump(mode="json", exclude_none=True), separators=(",", ":")))


def _error_event(alias: str, exc: Exception, instance: str) -> bytes:
    error = provider_error(exc)
    if error is None:
        log.exception("stream of model %r broke", alias)
        error = MeshlineError("the stream failed unexpectedly; the trace id identifies it in the logs")
    else:
        log.warning("stream of model %r failed: %s (%s)", alias, error.detail, error.code)
    problem = problem_for(error, instance).model_dump(exclude_none=True)
    # OpenAI clients raise on an `error` event only when its data holds an `error` object.
    problem["error"] = {"message": error.detail, "type": error.code, "code": error.code, "retryable": error.retryable}
    return encode_sse(json.dumps(problem), event="error")


async def _close(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def _relay(alias: str, stream: Any, first: Any, instance: str) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield _chunk_event(first)
        async for chunk in stream:
            yield _chunk_event(chunk)
    except Exception as exc:
        yield _error_event(alias, exc, instance)
        return
    finally:
        await _close(stream)
    yield encode_sse("[DONE]")


async def open_stream(
    router: Router, alias: str, messages: list[dict[str, Any]], instance: str, **params: Any
) -> StreamingResponse:
    """Open a streamed completion and relay it as SSE; usage is always requested for the last chunk."""
    options = {**(params.pop("stream_options", None) or {}), "include_usage": True}
    stream: Any = None
    try:
        stream = await router.acompletion(
            model=alias,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options=options,
            **params,
        )
        first = await anext(aiter(stream), None)
    except Exception as exc:
        if stream is not None:
            await _close(stream)
        raise _mapped(alias, exc) from exc
    return StreamingResponse(_relay(alias, stream, first, instance), media_type=SSE_MEDIA_TYPE, headers=STREAM_HEADERS)
