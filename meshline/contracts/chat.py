"""Public chat API of the orchestrator: request, response and stream events."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from meshline.contracts.agent import Citation, ToolCallRecord, Usage
from meshline.contracts.problem import ProblemDetails

Role = Literal["system", "user", "assistant", "tool"]
RouteMethod = Literal["examples", "llm", "pinned", "fallback", "sticky"]


class ChatMessage(BaseModel):
    """A message in OpenAI format (text content only)."""

    role: Role
    content: str = ""
    name: str | None = None
    agent: str | None = None
    degraded: bool | None = Field(
        default=None,
        description="On an assistant message: some agent could not answer, and this text is its fallback's "
        "or an honest degraded reply (as ChatResponse.degraded). The text is what the stream showed.",
    )
    error: str | None = Field(
        default=None,
        description="On an assistant message: the code of the failure that ended the turn before it was "
        "answered (its stream ended with an `error` event); the text is what the stream had shown.",
    )


class ChatRequest(BaseModel):
    """``POST /v1/chat``. Omit ``thread_id`` to start a new thread."""

    message: str = Field(min_length=1)
    thread_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    agent: str | None = Field(default=None, description="Pin the turn to this agent, skipping the router.")
    user: str | None = Field(default=None, max_length=128, description="End user, when the key has none.")
    stream: bool = False
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=600,
        description="Deadline for the whole turn, in seconds. The orchestrator accepts its configured range "
        "(default 4 to 300 s) and answers anything outside it with 422 `timeout_out_of_range`.",
    )


class RouteDecision(BaseModel):
    agents: list[str]
    method: RouteMethod
    confidence: float = Field(ge=0.0, le=1.0)


class ChatResponse(BaseModel):
    thread_id: str
    turn_id: str
    content: str
    route: RouteDecision
    citations: list[Citation] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    trace_id: str | None = None
    degraded: bool = Field(default=False, description="Some agent could not answer this turn.")
    fallbacks: dict[str, str] = Field(
        default_factory=dict, description="Agent that could not answer -> the agent that answered instead."
    )


class ThreadView(BaseModel):
    """``GET /v1/threads/{id}``."""

    thread_id: str
    messages: list[ChatMessage]
    updated_at: str | None = None


class RouteEvent(BaseModel):
    type: Literal["route"] = "route"
    thread_id: str
    route: RouteDecision


class DeltaEvent(BaseModel):
    type: Literal["delta"] = "delta"
    text: str
    agent: str | None = None


class ToolEvent(BaseModel):
    type: Literal["tool"] = "tool"
    call: ToolCallRecord
    agent: str | None = None


class ResetEvent(BaseModel):
    """Discard the text shown so far for ``agent``: the attempt that streamed it does not answer.

    Sent when an agent's call fails after streaming some text (before its fallback's text, or
    before the degraded reply), or when the text an agent streamed is not the answer it gave
    (another replica answered, a question replaced it). Text for that agent that follows
    replaces what was discarded, so the stream's text always ends as the thread stores it.
    """

    type: Literal["reset"] = "reset"
    agent: str
    reason: Literal["failed", "replaced"] = Field(
        description="`failed`: the agent's call failed; `replaced`: its answer differs from what it streamed."
    )


class DoneEvent(BaseModel):
    type: Literal["done"] = "done"
    response: ChatResponse


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    problem: ProblemDetails


StreamEvent = Annotated[
    RouteEvent | DeltaEvent | ResetEvent | ToolEvent | DoneEvent | ErrorEvent, Field(discriminator="type")
]
