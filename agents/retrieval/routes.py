"""HTTP surface of the knowledge agent: ``GET /v1/manifest`` and ``POST /v1/invoke`` (JSON or SSE).

The SSE framing is shared with every agent service (meshline.agents.agent_stream).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from meshline.agents.agent_stream import PROBLEM_RESPONSES, stream_response
from meshline.agents.retrieval.runtime import RetrievalRuntime
from meshline.contracts import AgentResult, AgentTask, Manifest
from meshline.service import require_identity
from meshline.service.scopes import AGENT_INVOKE
from meshline.sse import SSE_MEDIA_TYPE

router = APIRouter(prefix="/v1", tags=["agent"])


@router.get("/manifest", response_model=Manifest)
async def manifest(request: Request) -> Manifest:
    """What this agent is, for the registry and the router (no auth)."""
    result: Manifest = request.app.state.manifest
    return result


@router.post(
    "/invoke", response_model=None, responses=PROBLEM_RESPONSES, dependencies=[Depends(require_identity(AGENT_INVOKE))]
)
async def invoke(task: AgentTask, request: Request) -> AgentResult | StreamingResponse:
    """Answer one task. ``Accept: text/event-stream`` streams ``delta`` events, then one ``result``."""
    runtime: RetrievalRuntime = request.app.state.runtime
    if SSE_MEDIA_TYPE not in request.headers.get("accept", ""):
        return await runtime.run(task)
    return await stream_response(runtime.events(task, stream=True), request.url.path)
