"""A turn that fails after its stream started: the stream ends with an ``error`` event its clients
understand, and the thread stores what was shown, marked with the failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from redis.asyncio import Redis

from meshline.contracts.chat import DeltaEvent, ErrorEvent, RouteDecision, RouteEvent
from meshline.errors import ServiceUnavailable
from meshline.orchestrator.api.chat import encode_error, encode_event
from meshline.orchestrator.api.openai_compat import error_chunk
from meshline.orchestrator.api.streaming import sse_response
from meshline.orchestrator.identity import Actor
from meshline.orchestrator.turn_state import TurnState
from meshline.orchestrator.turns import TurnEvent, TurnRunner
from meshline.sdk._common import parse_event
from meshline.sse import SSEMessage

ACTOR = Actor(tenant="acme", user="ann")


async def answer_then_fail(state: TurnState, config: RunnableConfig) -> TurnState:
    writer = get_stream_writer()
    writer(DeltaEvent(agent="general", text="Half an "))
    writer(DeltaEvent(agent="general", text="answer"))
    if state["message"] == "fail":
        raise ServiceUnavailable("the registry is unreachable", code="state_unavailable")
    reply, route = "Half an answer", RouteDecision(agents=["general"], method="pinned", confidence=1.0)
    return {"reply": reply, "route": route, "messages": [{"role": "assistant", "content": reply}]}


async def runner(redis_url: str) -> TurnRunner:
    graph = StateGraph(TurnState)
    graph.add_node("dispatch", answer_then_fail)  # type: ignore[call-overload]
    graph.add_node("remember", lambda state: {})
    graph.add_edge(START, "dispatch")
    graph.add_edge("dispatch", "remember")
    graph.add_edge("remember", END)
    compiled = graph.compile(checkpointer=InMemorySaver())
    return TurnRunner(compiled, registry=None, redis=Redis.from_url(redis_url), default_timeout_s=30)  # type: ignore[arg-type]


async def test_a_failed_turn_is_stored_as_shown_with_its_failure(redis_url: str) -> None:
    turns = await runner(redis_url)
    shown = ""
    with pytest.raises(ServiceUnavailable):
        async for event in turns.stream(ACTOR, "fail", thread_id="t1"):
            if isinstance(event, DeltaEvent):
                shown += event.text
    thread = await turns.thread(ACTOR, "t1")
    assert [(m.role, m.content, m.error, m.agent) for m in thread.messages] == [
        ("user", "fail", None, None),
        ("assistant", shown, "state_unavailable", "general"),
    ]
    # The thread goes on: the next turn starts afresh rather than resuming the failed one.
    async for _ in turns.stream(ACTOR, "again", thread_id="t1"):
        pass
    contents = [m.content for m in (await turns.thread(ACTOR, "t1")).messages]
    assert contents == ["fail", "Half an answer", "again", "Half an answer"]


async def failing_events() -> AsyncIterator[TurnEvent]:
    yield RouteEvent(thread_id="t", route=RouteDecision(agents=["general"], method="pinned", confidence=1.0))
    yield DeltaEvent(text="Half", agent="general")
    raise ServiceUnavailable("the turn's agent vanished", code="state_unavailable")


async def last_event(encode_error_of: Any, encode: Any) -> SSEMessage:
    response = await sse_response(failing_events(), encode, encode_error_of, {})
    body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[misc]
    event, data = "message", ""
    for line in body.decode().strip().split("\n\n")[-1].splitlines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
    return SSEMessage(event=event, data=data)


async def test_the_native_stream_ends_with_an_error_event_the_sdk_raises() -> None:
    message = await last_event(encode_error, encode_event)
    event = parse_event(message)
    assert isinstance(event, ErrorEvent)
    assert (event.problem.status, event.problem.code, event.problem.retryable) == (503, "state_unavailable", True)


async def test_the_openai_compatible_stream_ends_with_an_error_object() -> None:
    def encode(event: TurnEvent) -> list[bytes]:
        return [b"data: {}\n\n"]

    message = await last_event(error_chunk, encode)
    data = json.loads(message.data)
    assert message.event == "error"
    # OpenAI's SDK raises APIError on any event whose data holds an `error` object.
    assert data["error"] == {
        "message": "the turn's agent vanished",
        "type": "state_unavailable",
        "code": "state_unavailable",
        "retryable": True,
    }
    assert (data["status"], data["code"]) == (503, "state_unavailable")
