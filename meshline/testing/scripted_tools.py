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

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field


class ScriptedCall(BaseModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Turn(BaseModel):
    tool_calls: list[ScriptedCall] = Field(default_factory=list)
    content: str = ""


class Script(BaseModel):
    tool: str = Field(description="The script applies to requests that offer this tool.")
    turns: list[Turn]


def offered_tools(body: dict[str, Any]) -> list[str]:
    return [str((t.get("function") or {}).get("name", "")) for t in body.get("tools") or [] if isinstance(t, dict)]


def _since_last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    return messages[users[-1] + 1 :] if users else messages


def scripted_turn(scripts: dict[str, Script], body: dict[str, Any]) -> Turn | None:
    """The turn that answers ``body``, or None when no script applies (the echo answers)."""
    script = next((scripts[name] for name in offered_tools(body) if name in scripts), None)
    if script is None:
        return None
    after = _since_last_user(body.get("messages") or [])
    step = sum(1 for m in after if m.get("role") == "tool")
    if step >= len(script.turns):
        return None
    turn = script.turns[step]
    results = [str(m.get("content", "")) for m in after if m.get("role") == "tool"]
    if results and "{tool_result}" in turn.content:
        turn = turn.model_copy(update={"content": turn.content.replace("{tool_result}", results[-1])})
    return turn


def _openai_calls(turn: Turn) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "id": f"call_{uuid.uuid4().hex[:10]}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for i, call in enumerate(turn.tool_calls)
    ]


def completion(turn: Turn, model: str, usage: dict[str, int]) -> dict[str, Any]:
    """The turn as an OpenAI ``chat.completion``."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.content or None}
    if turn.tool_calls:
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in _openai_calls(turn)]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if turn.tool_calls else "stop"}],
        "usage": usage,
    }


def chunks(turn: Turn, model: str, usage: dict[str, int]) -> Iterator[bytes]:
    """The turn as OpenAI ``chat.completion.chunk`` SSE events, ending with ``[DONE]``."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk", "created": 1, "model": model}
    delta: dict[str, Any] = {"role": "assistant", "content": turn.content or None}
    if turn.tool_calls:
        delta["tool_calls"] = _openai_calls(turn)
    finish = "tool_calls" if turn.tool_calls else "stop"
    opening, closing = {"delta": delta, "finish_reason": None}, {"delta": {}, "finish_reason": finish}
    for choice in ({"index": 0, **opening}, {"index": 0, **closing}):
        yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()
    yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
    yield b"data: [DONE]\n\n"
