"""``POST /v1/chat``: Meshline's own chat endpoint (JSON reply, or SSE events when ``stream``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from meshline.contracts import ChatRequest, ChatResponse, ErrorEvent
from meshline.errors import MeshlineError, PayloadTooLarge
from meshline.orchestrator.api.streaming import sse_response
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.rate_limits import limited_turn
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.orchestrator.turns import TurnEvent, TurnRunner
from meshline.service import problem_for
from meshline.sse import encode_sse

router = APIRouter(tags=["chat"])
ChatPrincipal = Annotated[Principal, Depends(limited_turn("chat"))]  # holds a turn slot until the reply is sent


def check_message_size(request: Request, message: str) -> None:
    settings: OrchestratorSettings = request.app.state.settings
    if len(message) > settings.max_message_chars:
        raise PayloadTooLarge(
            f"message has {len(message)} characters; the limit is {settings.max_message_chars}",
            code="message_too_long",
        )


def encode_event(event: TurnEvent | ErrorEvent) -> list[bytes]:
    return [encode_sse(event.model_dump_json(exclude_none=True), event.type)]


def encode_error(error: MeshlineError) -> bytes:
    """The stream's last event when the turn fails: ``{"type": "error", "problem": {...}}``."""
    return encode_event(ErrorEvent(problem=problem_for(error)))[0]


@router.post("/v1/chat", response_model=ChatResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def chat(body: ChatRequest, request: Request, principal: ChatPrincipal) -> ChatResponse | StreamingResponse:
    """One chat turn. Omit ``thread_id`` to start a thread; the reply names it."""
    check_message_size(request, body.message)
    runner: TurnRunner = request.app.state.turns
    actor = acting_user(principal, body.user)
    events = runner.stream(actor, body.message, thread_id=body.thread_id, agent=body.agent, timeout_s=body.timeout_s)
    if not body.stream:
        return await runner.collect(events)
    return await sse_response(events, encode_event, encode_error, {})
