"""Wire contracts: the validation rules and shapes every service and the SDK rely on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from meshline.contracts import (
    AgentEvent,
    AgentResult,
    AgentTask,
    ChatRequest,
    ChatResponse,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    Manifest,
    MemorySearch,
    MemoryWrite,
    ProblemDetails,
    RouteDecision,
    RouteEvent,
    StreamEvent,
    ToolEvent,
    ToolSpec,
    Usage,
)

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(StreamEvent)
AGENT_EVENT: TypeAdapter[Any] = TypeAdapter(AgentEvent)
ROUTE = {"agents": ["commerce"], "method": "examples", "confidence": 0.92}


@pytest.mark.parametrize("name", ["commerce", "a", "crm-tools", "agent_2", "x" * 63])
def test_manifest_accepts_valid_names(name: str) -> None:
    assert Manifest(name=name, kind="agent").name == name


@pytest.mark.parametrize("name", ["", "Commerce", "2fast", "-lead", "has space", "dots.no", "x" * 64, "ümlaut"])
def test_manifest_rejects_invalid_names(name: str) -> None:
    with pytest.raises(ValidationError, match="name must be lowercase"):
        Manifest(name=name, kind="tool")


def test_manifest_defaults_and_kind() -> None:
    manifest = Manifest.model_validate(
        {"name": "commerce-tools", "kind": "tool", "tools": [{"name": "refund", "side_effects": True}]}
    )
    assert manifest.version == "0.0.0"
    assert manifest.examples == [] and manifest.uses == []
    assert manifest.tools == [ToolSpec(name="refund", side_effects=True)]
    assert manifest.tools[0].input_schema == {"type": "object", "properties": {}}
    with pytest.raises(ValidationError):
        Manifest(name="x", kind="model")


def test_manifest_limits_routing_examples() -> None:
    Manifest(name="a", kind="agent", examples=["hi"] * 200)
    with pytest.raises(ValidationError):
        Manifest(name="a", kind="agent", examples=["hi"] * 201)


def test_manifest_json_round_trip() -> None:
    manifest = Manifest(
        name="account",
        kind="agent",
        version="1.2.0",
        description="Account questions",
        examples=["where is my invoice"],
        uses=["crm"],
    )
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest


@pytest.mark.parametrize("thread_id", [None, "t-1", "a", "thread_01.2:x-Y", "x" * 128])
def test_chat_request_accepts_thread_ids(thread_id: str | None) -> None:
    assert ChatRequest(message="hi", thread_id=thread_id).thread_id == thread_id


@pytest.mark.parametrize("thread_id", ["", "x" * 129, "has space", "slash/no", "new\nline", "t-1\n", "é"])
def test_chat_request_rejects_thread_ids(thread_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatRequest(message="hi", thread_id=thread_id)
    assert caught.value.errors()[0]["loc"] == ("thread_id",)


def test_chat_request_requires_a_message_and_a_sane_timeout() -> None:
    with pytest.raises(ValidationError):
        ChatRequest(message="")
    with pytest.raises(ValidationError):
        ChatRequest(message="hi", timeout_s=0)
    with pytest.raises(ValidationError):
        ChatRequest(message="hi", timeout_s=601)
    request = ChatRequest(message="hi", timeout_s=600)
    assert (request.stream, request.agent, request.timeout_s) == (False, None, 600)


def test_route_confidence_is_a_probability() -> None:
    with pytest.raises(ValidationError):
        RouteDecision(agents=["a"], method="examples", confidence=1.01)
    with pytest.raises(ValidationError):
        RouteDecision(agents=["a"], method="guess", confidence=0.5)


def test_stream_events_parse_to_their_type() -> None:
    response = {"thread_id": "t", "turn_id": "u", "content": "done", "route": ROUTE}
    call = {"id": "c1", "tool": "refund", "arguments": {"order": "o-1"}, "status": "pending_confirmation"}
    problem = {"title": "Service unavailable", "status": 503, "code": "unavailable", "retryable": True}
    raw = [
        {"type": "route", "thread_id": "t", "route": ROUTE},
        {"type": "delta", "text": "Hel", "agent": "commerce"},
        {"type": "tool", "call": call},
        {"type": "done", "response": response},
        {"type": "error", "problem": problem},
    ]
    events = [STREAM_EVENT.validate_python(item) for item in raw]
    assert [type(e) for e in events] == [RouteEvent, DeltaEvent, ToolEvent, DoneEvent, ErrorEvent]
    assert events[0].route.confidence == 0.92
    assert events[1].text == "Hel"
    assert events[2].call.status == "pending_confirmation"
    assert isinstance(events[3].response, ChatResponse)
    assert events[3].response.usage == Usage()
    assert events[4].problem.retryable is True


def test_stream_events_round_trip_through_json() -> None:
    event = DeltaEvent(text="hi", agent="general")
    assert STREAM_EVENT.validate_json(event.model_dump_json()) == event


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "bogus", "text": "x"},
        {"text": "no type"},
        {"type": "delta"},  # the discriminator picks DeltaEvent, which then needs its text
        {"type": "route", "thread_id": "t", "route": {"agents": [], "method": "examples", "confidence": 2}},
    ],
)
def test_stream_event_rejects_bad_events(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        STREAM_EVENT.validate_python(raw)


def test_agent_events_parse_to_their_type() -> None:
    result = {"task_id": "k", "agent": "commerce", "content": "ok", "usage": {"prompt_tokens": 3}}
    delta = AGENT_EVENT.validate_python({"type": "delta", "text": "o"})
    final = AGENT_EVENT.validate_python({"type": "result", "result": result})
    assert delta.text == "o"
    assert isinstance(final.result, AgentResult)
    assert final.result.usage.prompt_tokens == 3


def test_usage_adds_up() -> None:
    total = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15) + Usage(
        prompt_tokens=1, completion_tokens=2, total_tokens=3
    )
    assert total == Usage(prompt_tokens=11, completion_tokens=7, total_tokens=18)
    assert sum([Usage(total_tokens=1)] * 3, Usage()) == Usage(total_tokens=3)
    assert Usage() + Usage() == Usage()


def test_agent_task_needs_a_message() -> None:
    with pytest.raises(ValidationError):
        AgentTask(task_id="k", thread_id="t", messages=[])
    task = AgentTask(task_id="k", thread_id="t", messages=[{"role": "user", "content": "hi"}])
    assert task.tools == [] and task.memories == []


def test_problem_details_keeps_extensions() -> None:
    problem = ProblemDetails.model_validate({"title": "Conflict", "status": 409, "balance": 30})
    assert problem.model_dump(exclude_none=True)["balance"] == 30
    assert problem.type == "about:blank"
    assert problem.retryable is False


def test_memory_contracts_bound_their_inputs() -> None:
    with pytest.raises(ValidationError):
        MemoryWrite(text="")
    with pytest.raises(ValidationError):
        MemorySearch(query="q", k=51)
    assert MemorySearch(query="q").k == 5
    assert MemoryWrite(text="likes tea", metadata={"n": 1, "ok": True}).metadata == {"n": 1, "ok": True}
