"""The whole mesh as separate processes: chat through the SDK, threads across restarts, bad input."""

from __future__ import annotations

import json

import httpx
import pytest

import meshline
from meshline.contracts.chat import DeltaEvent, DoneEvent, RouteEvent
from meshline.testing.mesh import TestMesh as Mesh
from meshline.testing.wait import wait_until_sync

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


def test_a_thread_remembers_its_turns_across_an_orchestrator_restart(mesh: Mesh) -> None:
    with meshline.Client(mesh.url, mesh.api_key) as client:
        # Pinned: this test is about threads; routing has its own tests.
        first = client.chat("My order number is 1042", agent="general")
        assert first.route.agents == ["general"]
        assert first.content.startswith("Echo #1: My order number is 1042")
        assert first.usage.total_tokens > 0
        second = client.chat("What was my order number?", thread_id=first.thread_id, agent="general")
        # The agent sent both user turns to the model: the thread's history travelled.
        assert second.content.startswith("Echo #2: What was my order number?")
        assert second.thread_id == first.thread_id

        mesh.restart("orchestrator")

        thread = client.threads.get(first.thread_id)
        assert [m.role for m in thread.messages] == ["user", "assistant", "user", "assistant"]
        assert thread.messages[0].content == "My order number is 1042"
        third = client.chat("Still there?", thread_id=first.thread_id, agent="general")
        assert third.content.startswith("Echo #3: Still there?")


def test_streaming_chat_relays_route_deltas_and_done(mesh: Mesh) -> None:
    with meshline.Client(mesh.url, mesh.api_key) as client:
        events = list(client.stream("hello there, how are you today"))
    assert isinstance(events[0], RouteEvent)
    deltas = [e for e in events if isinstance(e, DeltaEvent)]
    assert len(deltas) > 1, "tokens arrive one by one, not as one block"
    assert isinstance(events[-1], DoneEvent)
    assert "".join(d.text for d in deltas) == events[-1].response.content
    assert events[-1].response.content == "Echo #1: hello there, how are you today"


def test_recalled_memories_reach_the_agent_in_a_new_thread(mesh: Mesh) -> None:
    with meshline.Client(mesh.url, mesh.api_key) as client:
        client.chat("Please remember that my favourite colour is teal")

        def recalled() -> bool:
            client.chat("What colour do I like?")  # a new thread every time
            return "teal" in str(mesh.provider_requests()[-1]["messages"][0]["content"])  # type: ignore[index]

        wait_until_sync(recalled, timeout=30, interval=0.5, what="the memory is recalled")
        system = str(mesh.provider_requests()[-1]["messages"][0]["content"])  # type: ignore[index]
    assert "teal" in system, "the memory written by the first turn is recalled into the agent's prompt"


def test_openai_compatible_endpoint_pins_an_agent(mesh: Mesh) -> None:
    headers = {"authorization": f"Bearer {mesh.api_key}"}
    body = {
        "model": "meshline/general",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "bye"},
        ],
    }
    reply = httpx.post(f"{mesh.url}/v1/chat/completions", json=body, headers=headers, timeout=60).json()
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"] == "Echo #2: bye", "earlier messages seed the thread"
    assert reply["meshline"]["route"] == {"agents": ["general"], "method": "pinned", "confidence": 1.0}

    chunks = []
    with httpx.stream(
        "POST", f"{mesh.url}/v1/chat/completions", json={**body, "stream": True}, headers=headers, timeout=60
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line.removeprefix("data: ")))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Echo #2: bye"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_registry_lists_the_healthy_agent(mesh: Mesh) -> None:
    with meshline.Client(mesh.url, mesh.admin_key) as client:  # the registry is the platform admin's
        services = {s.name: s for s in client.services.list()}
    assert services["general"].kind == "agent"
    assert all(i.healthy for i in services["general"].instances)
    with meshline.Client(mesh.url, mesh.api_key) as client:  # a tenant's key sees agent names only
        assert "general" in {a.name for a in client.services.agents()}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("malformed_json", 400, "malformed_json"),
        ("missing_key", 401, "missing_api_key"),
        ("wrong_key", 401, "invalid_api_key"),
        ("unknown_thread", 404, "unknown_thread"),
        ("oversized_message", 413, "message_too_long"),
        ("oversized_body", 413, "payload_too_large"),
        ("empty_message", 422, "validation_error"),
        ("unknown_agent", 404, "unknown_agent"),
        ("unknown_route", 404, "not_found"),
        ("wrong_method", 405, "method_not_allowed"),
    ],
)
def test_bad_input_gets_problem_json_and_changes_nothing(mesh: Mesh, case: str, status: int, code: str) -> None:
    auth = {"authorization": f"Bearer {mesh.api_key}"}
    url = f"{mesh.url}/v1/chat"
    with httpx.Client(timeout=30) as http:
        before = len(mesh.provider_requests())
        response = {
            "malformed_json": lambda: http.post(
                url, content=b'{"message": "hi"', headers={**auth, "content-type": "application/json"}
            ),
            "missing_key": lambda: http.post(url, json={"message": "hi"}),
            "wrong_key": lambda: http.post(url, json={"message": "hi"}, headers={"authorization": "Bearer ml_nope"}),
            "unknown_thread": lambda: http.get(f"{mesh.url}/v1/threads/does-not-exist", headers=auth),
            "oversized_message": lambda: http.post(url, json={"message": "x" * 20_000}, headers=auth),
            "oversized_body": lambda: http.post(url, json={"message": "x" * 2_000_000}, headers=auth),
            "empty_message": lambda: http.post(url, json={"message": ""}, headers=auth),
            "unknown_agent": lambda: http.post(url, json={"message": "hi", "agent": "nobody"}, headers=auth),
            "unknown_route": lambda: http.get(f"{mesh.url}/v1/nothing-here", headers=auth),
            "wrong_method": lambda: http.put(url, json={"message": "hi"}, headers=auth),
        }[case]()
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        problem = response.json()
        assert problem["code"] == code
        assert problem["status"] == status and problem["title"] and problem["detail"]
        assert len(mesh.provider_requests()) == before, "a rejected request never reaches the model"


def test_no_service_logged_a_traceback(mesh: Mesh) -> None:
    # Runs last in this module (pytest keeps file order): everything above went through the mesh.
    logs = mesh.logs()
    assert {"orchestrator", "general", "llm", "memory"} <= set(logs)
    for name, text in logs.items():
        assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-3000:]}"
