"""The SSE answer of ``POST /v1/invoke``: ``delta``/``tool`` events, one ``result``, or an ``error`` event."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi.responses import StreamingResponse

from meshline.contracts import AgentDelta, AgentResultEvent, AgentToolEvent
from meshline.errors import MeshlineError
from meshline.service import PROBLEM_JSON, problem_for
from meshline.sse import SSE_MEDIA_TYPE, encode_sse

log = logging.getLogger(__name__)
AgentStreamEvent = AgentDelta | AgentToolEvent | AgentResultEvent
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"content": {PROBLEM_JSON: {}}, "description": "problem+json"} for code in (401, 403, 422, 502, 503)
}


def encode_event(event: AgentStreamEvent) -> bytes:
    return encode_sse(event.model_dump_json(), event=event.type)


def _error_event(exc: Exception, instance: str) -> bytes:
    if isinstance(exc, MeshlineError):
        problem = problem_for(exc, instance)
    else:
        log.exception("agent stream failed")
        problem = problem_for(MeshlineError("The agent failed while streaming its answer."), instance)
    return encode_sse(problem.model_dump_json(exclude_none=True), event="error")


async def _body(
    first: AgentStreamEvent, rest: AsyncGenerator[AgentStreamEvent, None], instance: str
) -> AsyncIterator[bytes]:
    async with aclosing(rest):
        yield encode_event(first)
        try:
            async for event in rest:
                yield encode_event(event)
        except Exception as exc:  # the status line is sent: errors travel as an event
            yield _error_event(exc, instance)


async def stream_response(events: AsyncGenerator[AgentStreamEvent, None], instance: str) -> StreamingResponse:
    """SSE of ``delta``/``tool`` events then one ``result``.

    Waits for the first event before answering, so a failure before any output (LLM layer down,
    bad model alias) is still a plain problem+json response with its status.
    """
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    return StreamingResponse(
        _body(first, events, instance),
        media_type=SSE_MEDIA_TYPE,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
