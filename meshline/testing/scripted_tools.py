"""Scripted tool calls for the fake provider: a test makes the "model" call tools.

A script is keyed by a tool name: it applies to every completion request that *offers* that
tool, so only agents that can use the tool are scripted, and a tool that is no longer
offered (its service was deregistered) falls back to the provider's echo. Which turn of the
script answers is read from the request itself — the number of tool results after the last
user message — so a script needs no state per conversation: turn 0 answers the user, turn 1
answers the first tool result, and so on; past the end, the echo answers.

A turn is ``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` or ``{"content": "..."}``; a
content turn may say ``{tool_result}``, replaced by the last tool result the model was given.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from meshline.json_types import JsonObject
from meshline.testing.scripted_model import ChatMessage, ChatRequest, Reply, ToolCall, Usage


class ScriptedCall(BaseModel):
    name: str
    arguments: JsonObject = Field(default_factory=dict)


class Turn(BaseModel):
    tool_calls: list[ScriptedCall] = Field(default_factory=list)
    content: str = ""


class Script(BaseModel):
    tool: str = Field(description="The script applies to requests that offer this tool.")
    turns: list[Turn]


def _since_last_user(messages: list[ChatMessage]) -> list[ChatMessage]:
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    return messages[users[-1] + 1 :] if users else messages


def scripted_turn(scripts: dict[str, Script], request: ChatRequest) -> Turn | None:
    """The turn that answers ``request``, or None when no script applies (the echo answers)."""
    script = next((scripts[name] for name in request.offered_tools() if name in scripts), None)
    if script is None:
        return None
    after = _since_last_user(request.messages)
    step = sum(1 for m in after if m.role == "tool")
    if step >= len(script.turns):
        return None
    turn = script.turns[step]
    results = [str(m.content or "") for m in after if m.role == "tool"]
    if results and "{tool_result}" in turn.content:
        turn = turn.model_copy(update={"content": turn.content.replace("{tool_result}", results[-1])})
    return turn


def as_reply(turn: Turn) -> Reply:
    """The turn as the scripted model's reply (tool-call turns send ``content: null``)."""
    calls = [ToolCall(name=c.name, arguments=c.arguments, id=f"call_{uuid.uuid4().hex[:10]}") for c in turn.tool_calls]
    text = turn.content or None
    return Reply(
        text=text, tool_calls=calls, usage=Usage(prompt_tokens=1, completion_tokens=1), pieces=[text] if text else []
    )
