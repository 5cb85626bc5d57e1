"""HTTP surface of the knowledge agent: ``GET /v1/manifest`` and ``POST /v1/invoke`` (JSON or SSE).

The SSE framing is the assistant's (same events, same error event), reused rather than copied.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from meshline.agents.assistant.routes import _sse_body
from meshline.agents.retrieval.runtime import RetrievalRuntime
from meshline.contracts import AgentResult, AgentTask, Manifest
from meshline.service import require_identity
from meshline.service.problems import PROBLEM_JSON
from meshline.sse import SSE_MEDIA_TYPE

router = APIRouter(prefix="/v1", tags=["agent"])
_PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"content": {PROBLEM_JSON: {}}, "description": "problem+json"} for code in (401, 403, 422, 502, 503)
}


@router.get("/manifest", response_model=Manifest)
async def manifest(request: Request) -> Manifest:
    """What this agent is, for the registry and the router (no auth)."""
    result: Manifest = request.app.state.manifest
    return result


@router.post(
    "/invoke", response_model=None, responses=_PROBLEM_RESPONSES, dependencies=[Depends(require_identity("chat"))]
)
async def invoke(task: AgentTask, request: Request) -> AgentResult | StreamingResponse:
    """Answer one task. ``Accept: text/event-stream`` streams ``delta`` events, then one ``result``."""
    runtime: RetrievalRuntime = request.app.state.runtime
    if SSE_MEDIA_TYPE not in request.headers.get("accept", ""):
        return await runtime.run(task)
    events = runtime.events(task, stream=True)
    # The first event (search done, first token or the "don't know" answer) comes before the status
    # line, so a failure before any output is still a plain problem+json response.
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
