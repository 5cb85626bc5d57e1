"""HTTP surface of an assistant agent: ``GET /v1/manifest`` and ``POST /v1/invoke`` (JSON or SSE)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from meshline.agents.assistant.runtime import AssistantRuntime, RuntimeEvent
from meshline.contracts import AgentResult, AgentTask, Manifest
from meshline.errors import MeshlineError
from meshline.service import require_identity
from meshline.service.problems import PROBLEM_JSON, problem_for
from meshline.sse import SSE_MEDIA_TYPE, encode_sse

log = logging.getLogger("meshline.agents.assistant")
router = APIRouter(prefix="/v1", tags=["agent"])

_PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"content": {PROBLEM_JSON: {}}, "description": "problem+json"} for code in (401, 403, 422, 502, 503)
}


def _runtime(request: Request) -> AssistantRuntime:
    runtime: AssistantRuntime = request.app.state.runtime
    return runtime


def encode_event(event: RuntimeEvent) -> bytes:
    return encode_sse(event.model_dump_json(), event=event.type)


def _error_event(exc: Exception, instance: str) -> bytes:
    if isinstance(exc, MeshlineError):
        problem = problem_for(exc, instance)
    else:
        log.exception("assistant stream failed")
        problem = problem_for(MeshlineError("The agent failed while streaming its answer."), instance)
    return encode_sse(problem.model_dump_json(exclude_none=True), event="error")


async def _sse_body(
    first: RuntimeEvent, rest: AsyncGenerator[RuntimeEvent, None], instance: str
) -> AsyncIterator[bytes]:
    async with aclosing(rest):
        yield encode_event(first)
        try:
            async for event in rest:
                yield encode_event(event)
        except Exception as exc:  # the status line is sent: errors travel as an event
            yield _error_event(exc, instance)


@router.get("/manifest", response_model=Manifest)
async def manifest(request: Request) -> Manifest:
    """What this agent is, for the registry and the router (no auth)."""
    result: Manifest = request.app.state.manifest
    return result


@router.post(
    "/invoke",
    response_model=None,
    responses=_PROBLEM_RESPONSES,
    dependencies=[Depends(require_identity("chat"))],
)
async def invoke(task: AgentTask, request: Request) -> AgentResult | StreamingResponse:
    """Run one task. ``Accept: text/event-stream`` streams ``delta`` events, then one ``result``."""
    runtime = _runtime(request)
    if SSE_MEDIA_TYPE not in request.headers.get("accept", ""):
        result: AgentResult = await runtime.run(task)
        return result
    events = runtime.events(task, stream=True)
    # Wait for the first event before answering, so a failure before any token (LLM layer
    # down, bad model alias) is still a plain problem+json response with its status.
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    return StreamingResponse(
        _sse_body(first, events, request.url.path),
        media_type=SSE_MEDIA_TYPE,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
