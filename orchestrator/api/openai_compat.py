"""``POST /v1/chat/completions``: the mesh behind an OpenAI-compatible endpoint.

``model`` picks the agent: ``meshline`` (or ``meshline/auto``) lets the router decide,
``meshline/<agent>`` or ``<agent>`` pins one. Earlier messages in the request seed a new
thread; pass ``thread_id`` (body) or ``X-Meshline-Thread-Id`` to continue a stored thread.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from meshline.contracts import ChatMessage, ChatResponse, DeltaEvent, DoneEvent, ResetEvent
from meshline.errors import BadRequest, MeshlineError, NotFound
from meshline.json_types import JsonObject
from meshline.orchestrator.api.chat import ChatPrincipal, check_message_size
from meshline.orchestrator.api.streaming import sse_response
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.turns import TurnEvent, TurnRunner
from meshline.service import problem_for
from meshline.sse import encode_sse

router = APIRouter(tags=["openai"])
AUTO_MODELS = frozenset({"meshline", "meshline/auto", "auto"})


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = "meshline"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    user: str | None = Field(default=None, max_length=128)
    thread_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")


async def pinned_agent(model: str, registry: ServiceRegistry) -> str | None:
    if model in AUTO_MODELS:
        return None
    name = model.removeprefix("meshline/")
    manifest = await registry.manifest(name)
    if manifest is None or manifest.kind != "agent":
        raise NotFound(f"unknown model {model!r}: use 'meshline' or 'meshline/<agent>'", code="unknown_model")
    return name


def completion_body(response: ChatResponse, model: str) -> JsonObject:
    return {
        "id": f"chatcmpl-{response.turn_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": response.content}, "finish_reason": "stop"}
        ],
        "usage": response.usage.model_dump(),
        "meshline": {
            "thread_id": response.thread_id,
            "route": response.route.model_dump(),
            "trace_id": response.trace_id,
        },
    }


def chunk(cid: str, model: str, delta: JsonObject, finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return encode_sse(json.dumps(body))


def error_chunk(error: MeshlineError) -> bytes:
    """A failed turn's last event: OpenAI clients raise on data holding an ``error`` object."""
    body = problem_for(error).model_dump(mode="json", exclude_none=True)
    body["error"] = {"message": error.detail, "type": error.code, "code": error.code, "retryable": error.retryable}
    return encode_sse(json.dumps(body), event="error")


@router.post("/v1/chat/completions", response_model=None)
async def completions(
    body: CompletionRequest, request: Request, principal: ChatPrincipal
) -> JsonObject | StreamingResponse:
    """OpenAI Chat Completions over the mesh (streaming and not)."""
    last = body.messages[-1]
    if last.role != "user" or not last.content.strip():
        raise BadRequest("the last message must be a non-empty user message", code="no_user_message")
    check_message_size(request, last.content)
    actor = acting_user(principal, body.user)
    runner: TurnRunner = request.app.state.turns
    agent = await pinned_agent(body.model, request.app.state.registry)
    thread_id = body.thread_id or request.headers.get("x-meshline-thread-id")
    seed = [m for m in body.messages[:-1] if m.role in ("user", "assistant")]
    events = runner.stream(actor, last.content, thread_id=thread_id, agent=agent, seed=seed)
    if not body.stream:
        return completion_body(await runner.collect(events), body.model)
    cid = f"chatcmpl-{int(time.time() * 1000)}"

    def encode(event: TurnEvent) -> list[bytes]:
        if isinstance(event, DeltaEvent):
            return [chunk(cid, body.model, {"role": "assistant", "content": event.text})]
        if isinstance(event, ResetEvent):
            # OpenAI's format cannot take text back: the extension tells a client that knows it to
            # discard what it has shown; the final chunk's `meshline.degraded` says a stand-in answered.
            return [chunk(cid, body.model, {}, meshline={"reset": event.model_dump()})]
        if isinstance(event, DoneEvent):
            meta = {
                "thread_id": event.response.thread_id,
                "route": event.response.route.model_dump(),
                "degraded": event.response.degraded,
            }
            usage = event.response.usage.model_dump()
            return [chunk(cid, body.model, {}, "stop", usage=usage, meshline=meta), b"data: [DONE]\n\n"]
        return []

    return await sse_response(events, encode, error_chunk, {})
