"""Multi-intent fan-out through the whole mesh: one message, two agents at once, one reply.

Real processes (orchestrator, agents, tool services, LLM layer, memory); only the model is the
fake provider, here with a fixed latency so that running the two agents one after the other
would show in the turn's duration.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import meshline
from meshline.contracts.chat import DeltaEvent, DoneEvent, RouteEvent
from meshline.testing.mesh import TestMesh, run_test_mesh

pytestmark = pytest.mark.e2e
MODEL_LATENCY_S = 4.0  # per model call; each agent makes one (the fake answers without tool calls)
MESSAGE = "cancel order 1234 and change my email"
PARTS = {"commerce": "cancel order 1234", "account": "change my email"}


@pytest.fixture(scope="module")
def slow_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestMesh]:
    home = tmp_path_factory.mktemp("fan-out") / ".meshline"
    with run_test_mesh(home, provider_latency_ms=MODEL_LATENCY_S * 1000) as running:
        yield running


def model_calls(mesh: TestMesh, since: int) -> dict[str, str]:
    """Which agent asked the model about what: system prompt's role -> last user message."""
    calls: dict[str, str] = {}
    for body in mesh.provider_requests()[since:]:
        messages = body["messages"]
        assert isinstance(messages, list)
        system = str(messages[0]["content"])
        agent = "commerce" if "order and shopping assistant" in system else "account"
        calls[agent] = str([m for m in messages if m["role"] == "user"][-1]["content"])
    return calls


def test_two_requests_go_to_two_agents_in_parallel_and_come_back_as_one_reply(slow_mesh: TestMesh) -> None:
    with meshline.Client(slow_mesh.url, slow_mesh.api_key, timeout=60) as client:
        before = len(slow_mesh.provider_requests())
        start = time.monotonic()
        reply = client.chat(MESSAGE)
        elapsed = time.monotonic() - start
        thread = client.threads.get(reply.thread_id)
    assert reply.route.agents == ["commerce", "account"]
    assert reply.route.method == "examples" and reply.route.confidence >= 0.7
    assert model_calls(slow_mesh, before) == PARTS, "each agent works on its own part of the message"
    assert reply.content == "Echo #1: cancel order 1234\n\nEcho #1: change my email"
    assert not reply.degraded
    # Both agents waited for the model at the same time: one after the other takes twice as long.
    assert elapsed < 2 * MODEL_LATENCY_S, f"the turn took {elapsed:.2f} s"
    assert [m.content for m in thread.messages] == [MESSAGE, reply.content]


def test_the_stream_announces_both_agents_and_relays_both_answers(slow_mesh: TestMesh) -> None:
    with meshline.Client(slow_mesh.url, slow_mesh.api_key, timeout=60) as client:
        events = list(client.stream(MESSAGE))
    route, done = events[0], events[-1]
    assert isinstance(route, RouteEvent) and route.route.agents == ["commerce", "account"]
    assert isinstance(done, DoneEvent)
    deltas = [e for e in events if isinstance(e, DeltaEvent)]
    assert {d.agent for d in deltas} == {"commerce", "account"}
    for agent, part in PARTS.items():
        assert "".join(d.text for d in deltas if d.agent == agent) == f"Echo #1: {part}"
    assert done.response.content == "Echo #1: cancel order 1234\n\nEcho #1: change my email"
