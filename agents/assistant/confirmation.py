"""Confirmation of side-effecting tool calls: the agent asks, the user's next turn decides.

The pending call (:class:`meshline.contracts.agent.PendingCall`) travels in
``AgentResult.pending``; the orchestrator keeps it (in Redis, for a few minutes) and hands it
back in ``AgentTask.pending`` on the next turn to this agent, so a crash between asking and
confirming loses nothing, and an execution that is retried uses the same idempotency key and
cannot run twice. What the reply means is :func:`meshline.confirmation.classify`'s: a
clear yes runs the call, a clear no cancels it, an unclear reply is asked again
(:func:`reask`), and a new request is answered as usual with the question left open
(:func:`reminder`).
"""

from __future__ import annotations

import json
import uuid

from meshline.contracts import PendingCall
from meshline.json_types import JsonObject


def new_call_id() -> str:
    """The mesh's own id for a tool call. Models may omit ids or repeat them across turns, and a
    confirmed call's idempotency key is ``sha256(thread_id, call id)``: a random id keeps two calls
    of one thread from ever sharing a key (one effect answering for another)."""
    return f"call-{uuid.uuid4().hex}"


def _call_text(call: PendingCall) -> str:
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in call.arguments.items())
    return f"{call.tool}({args})"


def question(call: PendingCall) -> str:
    return f"I'm about to run {_call_text(call)}. Shall I go ahead? Reply yes to confirm or no to cancel."


def reask(call: PendingCall) -> str:
    """The answer to a reply that is not a clear yes or no: nothing runs until there is one."""
    return (
        f"I need a clear yes or no before I run {_call_text(call)}: reply yes to confirm or no to cancel. "
        "If you want something changed, reply no and ask again."
    )


def reminder(call: PendingCall) -> str:
    """Appended to a turn that answered something else: the user always sees what a yes would run."""
    return f"(Still waiting for your answer: shall I run {_call_text(call)}? Reply yes to confirm or no to cancel.)"


def last_user_text(messages: list[JsonObject]) -> str:
    """The text of the conversation's last user message (the reply to a pending question)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""
