"""Orchestrator -> agent contract: ``POST /v1/invoke`` takes an AgentTask, returns an AgentResult."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from meshline.contracts.manifest import Protocol, TokenPolicy
from meshline.json_types import JsonObject


class Citation(BaseModel):
    document_id: str
    title: str = ""
    chunk_id: str | None = None
    score: float | None = None


class ToolCallRecord(BaseModel):
    id: str
    tool: str
    service: str | None = None
    arguments: JsonObject = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    status: Literal["ok", "error", "pending_confirmation"] = "ok"


class ToolBinding(BaseModel):
    """A tool service the agent may call, as resolved by the orchestrator's registry."""

    service: str
    url: str
    protocol: Protocol = "meshline"  # "mcp": ``url`` is an MCP endpoint, its tools are listed and called over MCP
    token_policy: TokenPolicy = "own"  # as registered: "none" = this service gets no token
    token: str | None = Field(
        default=None,
        description="The service token to send to this service: its only audience is ``service``; "
        "None when the registration asked for no token. The agent never sends any other token there.",
    )


class HopTokens(BaseModel):
    """Service tokens for the agent's own calls, minted per turn by the orchestrator.

    Each is valid for one audience only, so an agent (or anyone it calls) can never replay one
    against another service; the token the agent itself was called with opens only the agent.
    """

    llm: str | None = Field(default=None, description="Audience ``llm``, scope ``llm:call``.")
    memory: str | None = Field(
        default=None, description="Audience ``memory``, scope ``knowledge:read``: search the tenant's knowledge bases."
    )


class PendingCall(BaseModel):
    """A side-effecting tool call the agent asked the user to confirm, waiting for a yes.

    The agent returns it in ``AgentResult.pending``; the orchestrator keeps it for the thread and
    hands it back in ``AgentTask.pending`` on that agent's next turn.
    """

    id: str
    service: str
    tool: str
    arguments: JsonObject = Field(default_factory=dict)  # the tool's JSON arguments


class AgentTask(BaseModel):
    task_id: str
    thread_id: str
    messages: list[JsonObject] = Field(min_length=1, description="Conversation in OpenAI message format.")
    memories: list[str] = Field(default_factory=list)
    tools: list[ToolBinding] = Field(default_factory=list)
    tokens: HopTokens = Field(default_factory=HopTokens)
    pending: PendingCall | None = Field(default=None, description="The question this agent left open on the thread.")


class Usage(BaseModel):
    """Token counts, summed across LLM calls and agents."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class AgentResult(BaseModel):
    task_id: str
    agent: str
    content: str
    citations: list[Citation] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    handoff: str | None = None
    pending: PendingCall | None = Field(
        default=None, description="A call waiting for the user's yes; the orchestrator keeps it for the thread."
    )
    fallback_for: str | None = Field(
        default=None, description="Set by the orchestrator: the agent this result stands in for (a fallback answered)."
    )


class AgentDelta(BaseModel):
    type: Literal["delta"] = "delta"
    text: str


class AgentToolEvent(BaseModel):
    type: Literal["tool"] = "tool"
    call: ToolCallRecord


class AgentResultEvent(BaseModel):
    type: Literal["result"] = "result"
    result: AgentResult


AgentEvent = Annotated[AgentDelta | AgentToolEvent | AgentResultEvent, Field(discriminator="type")]
