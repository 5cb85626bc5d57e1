"""Confirmation of side-effecting tool calls: the agent asks, the user's next turn decides.

The pending call travels in ``AgentResult.metadata["pending"]``; the orchestrator keeps it in
the thread's checkpointed state and hands it back in ``AgentTask.metadata["pending"]`` on the
next turn, so a crash between asking and confirming loses nothing, and an execution that is
retried uses the same idempotency key and cannot run twice.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field


class PendingCall(BaseModel):
    """A side-effecting call the model asked for, waiting for the user's yes."""

    id: str
    service: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


def question(call: PendingCall) -> str:
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in call.arguments.items())
    return f"I'm about to run {call.tool}({args}). Shall I go ahead? Reply yes to confirm or no to cancel."


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""
