"""The general agent streaming: ``Accept: text/event-stream`` relays LLM tokens as ``delta`` events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import respx
from fastapi import FastAPI

from meshline.contracts import AgentResult, ProblemDetails
from meshline.sse import SSEMessage, aiter_sse
from meshline.testing.scripted_model import DONE, Reply, Usage, chunk_events, text_event, usage_event
from tests.agents.assistant.llm_standin import COMPLETIONS, LLM_TOKEN, sent_json, task_body

USAGE = Usage(prompt_tokens=30, completion_tokens=4)


def sse_headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept": "text/event-stream"}


async def invoke_events(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> list[SSEMessage]:
    async with client.stream("POST", "/v1/invoke", json=body, headers=sse_headers(token)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [message async for message in aiter_sse(response)]


async def test_stream_relays_each_token_then_the_result(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    pieces = ["Hello", " there", ", how", " can I help?"]
    route = llm.post(COMPLETIONS).respond(
        200,
        content=b"".join(chunk_events(Reply(pieces=["", *pieces], usage=USAGE))),
        headers={"content-type": "text/event-stream"},
    )

    events = await invoke_events(client, token, task_body(memories=["Name is Alice"]))

    assert [e.event for e in events] == ["delta"] * 4 + ["result"]
    assert [json.loads(e.data) for e in events[:4]] == [{"type": "delta", "text": p} for p in pieces]
    final = json.loads(events[-1].data)
    assert final["type"] == "result"
    result = AgentResult.model_validate(final["result"])
    assert (result.content, result.agent, result.task_id) == ("Hello there, how can I help?", "general", "task-1")
    assert result.usage.model_dump() == USAGE.as_json()

    sent = sent_json(route)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert "- Name is Alice" in sent["messages"][0]["content"]
    assert route.calls.last.request.headers["authorization"] == f"Bearer {LLM_TOKEN}"  # the task's, not the caller's


async def test_stream_is_not_buffered(agent_app: FastAPI, llm: respx.MockRouter, token: str) -> None:
    """The LLM layer holds its last token until the caller has received the ones before it."""
    second_delta_seen = asyncio.Event()
    done = asyncio.Event()

    async def gated_llm() -> AsyncIterator[bytes]:
        yield text_event("first")
        yield text_event(" second")
        await asyncio.wait_for(second_delta_seen.wait(), timeout=5)
        yield text_event(" third") + usage_event(USAGE) + DONE

    llm.post(COMPLETIONS).respond(200, content=gated_llm(), headers={"content-type": "text/event-stream"})
    body = json.dumps(task_body()).encode()
    sent_bodies: list[bytes] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent_bodies.append(message.get("body", b""))
            if b'"text":" second"' in message.get("body", b""):
                second_delta_seen.set()
            if not message.get("more_body", False):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/invoke",
        "raw_path": b"/v1/invoke",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"general.test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.encode(), v.encode()) for k, v in sse_headers(token).items()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("general.test", 80),
    }
    await asyncio.wait_for(agent_app(scope, receive, send), timeout=10)

    stream = b"".join(sent_bodies).decode()
    assert "event: error" not in stream
    order = [stream.index(s) for s in ('"text":"first"', '"text":" second"', '"text":" third"', "event: result")]
    assert order == sorted(order)


async def test_llm_error_mid_stream_becomes_an_error_event(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    error = {"error": {"message": "model crashed", "type": "server_error", "code": "provider_error"}}
    content = text_event("Hi") + text_event(" there") + f"data: {json.dumps(error)}\n\n".encode()
    llm.post(COMPLETIONS).respond(200, content=content, headers={"content-type": "text/event-stream"})

    events = await invoke_events(client, token, task_body())

    assert [e.event for e in events] == ["delta", "delta", "error"]
    problem = ProblemDetails.model_validate_json(events[-1].data)
    assert (problem.status, problem.code, problem.retryable) == (502, "provider_error", True)
    assert problem.detail == "model crashed"
    assert problem.instance == "/v1/invoke"


async def test_llm_problem_event_mid_stream_keeps_its_code(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    problem_event = {"title": "Deadline exceeded", "status": 504, "detail": "too slow", "code": "deadline_exceeded"}
    content = text_event("Hi") + f"event: error\ndata: {json.dumps(problem_event)}\n\n".encode()
    llm.post(COMPLETIONS).respond(200, content=content, headers={"content-type": "text/event-stream"})

    events = await invoke_events(client, token, task_body())

    assert [e.event for e in events] == ["delta", "error"]
    assert ProblemDetails.model_validate_json(events[-1].data).code == "deadline_exceeded"


async def test_broken_llm_connection_mid_stream_becomes_an_error_event(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    async def breaking_llm() -> AsyncIterator[bytes]:
        yield text_event("Hi")
        raise httpx.ReadError("connection reset by peer")

    llm.post(COMPLETIONS).respond(200, content=breaking_llm(), headers={"content-type": "text/event-stream"})

    events = await invoke_events(client, token, task_body())

    assert [e.event for e in events] == ["delta", "error"]
    problem = ProblemDetails.model_validate_json(events[-1].data)
    assert (problem.status, problem.code, problem.retryable) == (502, "stream_broken", True)


async def test_llm_failure_before_the_first_token_is_a_plain_problem(
    client: httpx.AsyncClient, llm: respx.MockRouter, token: str
) -> None:
    outage = {"title": "Service unavailable", "status": 503, "code": "unavailable", "retryable": True}
    llm.post(COMPLETIONS).respond(503, json=outage, headers={"content-type": "application/problem+json"})

    response = await client.post("/v1/invoke", json=task_body(), headers=sse_headers(token))

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert ProblemDetails.model_validate(response.json()).retryable is True
