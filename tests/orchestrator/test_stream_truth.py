"""What a chat stream shows is what the thread stores, also when the model breaks off mid-answer.

A running mesh (fake provider at the HTTP boundary, scripted to cut a stream half-way): the
stream's deltas, with each ``reset`` discarding its agent's text so far, end as the stored
assistant message, which says that a stand-in answered.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

import meshline
from meshline.contracts.chat import ChatMessage, DeltaEvent, DoneEvent, ResetEvent
from meshline.sse import iter_sse
from meshline.testing.mesh import TestMesh
from tests.orchestrator.stream_helpers import shown_text

pytestmark = pytest.mark.e2e


def break_next_stream(mesh: TestMesh) -> None:
    httpx.post(mesh.fake_llm_url.removesuffix("/v1") + "/_break", params={"count": 1}, timeout=5).raise_for_status()


def stored_reply(client: meshline.Client, thread_id: str) -> ChatMessage:
    messages = client.threads.get(thread_id).messages
    assert [m.role for m in messages] == ["user", "assistant"]
    return messages[-1]


def test_a_stream_cut_off_mid_answer_is_reset_and_the_fallback_answer_is_stored(mesh: TestMesh) -> None:
    with meshline.Client(mesh.url, mesh.api_key) as client:
        break_next_stream(mesh)
        events = list(client.stream(f"where is my order {uuid.uuid4().hex[:6]}?", agent="commerce"))
        done = events[-1]
        assert isinstance(done, DoneEvent)
        resets = [e for e in events if isinstance(e, ResetEvent)]
        partial = [e for e in events[: events.index(resets[0])] if isinstance(e, DeltaEvent)] if resets else []
        stored = stored_reply(client, done.response.thread_id)
    assert partial and all(e.agent == "commerce" for e in partial), "the cut-off attempt had streamed text"
    assert [(r.agent, r.reason) for r in resets] == [("commerce", "failed")]
    assert done.response.degraded and done.response.fallbacks == {"commerce": "general"}
    assert shown_text(events) == done.response.content == stored.content
    assert stored.degraded is True and stored.agent == "general" and stored.error is None


def test_without_a_fallback_the_degraded_reply_is_streamed_and_stored_as_shown(mesh: TestMesh) -> None:
    with meshline.Client(mesh.url, mesh.api_key) as client:
        break_next_stream(mesh)
        events = list(client.stream("hello there", agent="general"))
        done = events[-1]
        assert isinstance(done, DoneEvent)
        stored = stored_reply(client, done.response.thread_id)
    resets = [e for e in events if isinstance(e, ResetEvent)]
    assert [(r.agent, r.reason) for r in resets] == [("general", "failed")]
    assert done.response.degraded
    assert "general assistant is unavailable" in done.response.content
    assert shown_text(events) == done.response.content == stored.content
    assert stored.degraded is True


def test_the_openai_compatible_stream_marks_the_reset_and_the_degraded_answer(mesh: TestMesh) -> None:
    body = {"model": "meshline/general", "stream": True, "messages": [{"role": "user", "content": "hi again"}]}
    headers = {"authorization": f"Bearer {mesh.api_key}"}
    break_next_stream(mesh)
    chunks: list[dict[str, Any]] = []
    with httpx.stream("POST", f"{mesh.url}/v1/chat/completions", json=body, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        for message in iter_sse(response):
            if message.data != "[DONE]":
                chunks.append(json.loads(message.data))
    text, resets = "", 0
    for chunk in chunks:
        if "reset" in chunk.get("meshline", {}):
            text, resets = "", resets + 1
        text += chunk["choices"][0]["delta"].get("content") or ""
    final = chunks[-1]
    assert resets == 1 and final["choices"][0]["finish_reason"] == "stop"
    assert final["meshline"]["degraded"] is True
    assert "general assistant is unavailable" in text
