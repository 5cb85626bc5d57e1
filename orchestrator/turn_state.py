"""The state of a thread as the turn graph reads, writes and checkpoints it.

``TurnState`` is a TypedDict, the state type LangGraph handles at least cost (no validation per
node). Its messages stay plain JSON objects (``StoredMessage``), exactly as threads were always
checkpointed, so threads written before keep loading. The per-turn values are models:
``route`` (a ``RouteDecision``), ``results`` (``AgentResult``) and ``errors``
(``DispatchFailure``); every turn's input resets them, so a value a turn reads is one it wrote.
The checkpointer revives exactly these models (``CHECKPOINT_TYPES``) and nothing else.
"""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, NotRequired, TypedDict, cast

from meshline.contracts import AgentResult, ChatMessage, RouteDecision
from meshline.orchestrator.dispatch_outcome import DispatchFailure


class StoredMessage(TypedDict):
    """One message of a thread as its checkpoint holds it: a ``ChatMessage`` as JSON, without nulls."""

    role: str
    content: str
    name: NotRequired[str]
    agent: NotRequired[str]  # on an assistant message: who answered ("a,b" after a fan-out)
    degraded: NotRequired[bool]
    error: NotRequired[str]


def per_turn(left: list[AgentResult], right: list[AgentResult]) -> list[AgentResult]:
    """Results of parallel dispatches add up; the turn's input (an empty list) starts afresh."""
    return [*left, *right] if right else []


def per_turn_errors(left: dict[str, DispatchFailure], right: dict[str, DispatchFailure]) -> dict[str, DispatchFailure]:
    """Failures of parallel dispatches add up; the turn's input (an empty dict) starts afresh."""
    return {**left, **right} if right else {}


class TurnState(TypedDict, total=False):
    """The graph's state; a node reads it whole and returns the part it changes."""

    messages: Annotated[list[StoredMessage], operator.add]  # the whole thread, appended per turn
    message: str  # this turn's user message
    turn_id: str
    pinned: str | None  # the agent the caller pinned the turn to
    memories: list[str]
    route: RouteDecision
    parts: dict[str, str]  # agent -> the part of the message it handles (several on multi-intent)
    target: str  # set only in a dispatch's Send: the one agent it calls
    results: Annotated[list[AgentResult], per_turn]
    errors: Annotated[dict[str, DispatchFailure], per_turn_errors]  # agent -> why it did not answer
    reply: str


# The only classes a checkpoint may revive (LangGraph's own and plain JSON types aside).
CHECKPOINT_TYPES: tuple[type, ...] = (RouteDecision, AgentResult, DispatchFailure)


def stored(message: ChatMessage) -> StoredMessage:
    """``message`` as a thread's checkpoint holds it."""
    return cast(StoredMessage, message.model_dump(exclude_none=True))


def new_turn_input(message: str, pinned: str | None) -> TurnState:
    """The state a turn starts from: the user's message appended, the per-turn values reset."""
    return {
        "messages": [{"role": "user", "content": message}],
        "message": message,
        "turn_id": uuid.uuid4().hex,
        "pinned": pinned,
        "results": [],
        "errors": {},
        "memories": [],
        "parts": {},
    }


def last_agents(messages: list[StoredMessage]) -> list[str]:
    """The agents that answered the thread's previous turn (several after a fan-out)."""
    for message in reversed(messages):
        if message["role"] == "assistant":
            return [a for a in (message.get("agent") or "").split(",") if a]
    return []


def previous_agent(messages: list[StoredMessage]) -> str | None:
    """The agent that answered the thread's previous turn alone (None after a fan-out or at the start)."""
    for message in reversed(messages):
        if message["role"] == "assistant":
            agent = message.get("agent")
            return agent if agent and "," not in agent else None
    return None
