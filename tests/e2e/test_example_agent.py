"""The example agent (examples/faq_agent, written on the agent kit alone), end to end.

It runs as its own process next to the running mesh, is registered through the API, and a chat
turn routed to it is answered by it through the LLM layer (the fake provider echoes the user's
message, so the answer proves the whole path). A second tenant cannot read the first tenant's
thread, nor find the first tenant's turn in a thread of the same id.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import meshline
from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.ports import free_port
from meshline.contracts import DeltaEvent
from meshline.sdk.errors import MeshlineAPIError
from meshline.testing.mesh import READY_TIMEOUT_S, TestMesh

pytestmark = pytest.mark.e2e
SERVICE = Path(__file__).resolve().parents[2] / "examples" / "faq_agent" / "service.py"


@pytest.fixture(scope="module")
def faq_agent(mesh: TestMesh) -> Iterator[str]:
    """The example agent, started and registered; its base URL."""
    port = free_port()
    spec = ProcessSpec(
        "faq", [sys.executable, str(SERVICE)], port, env={**mesh.agent_env(), "MESHLINE_FAQ_PORT": str(port)}
    )
    mesh.supervisor.start(spec)
    mesh.supervisor.wait_ready(spec, READY_TIMEOUT_S)
    admin = {"authorization": f"Bearer {mesh.admin_key}"}
    try:
        with httpx.Client(base_url=mesh.url, headers=admin, timeout=60) as api:
            registered = api.post("/v1/services", json={"url": spec.url})
            assert registered.status_code == 201, registered.text
            assert registered.json()["name"] == "faq" and registered.json()["manifest"]["kind"] == "agent"
            try:
                yield spec.url
            finally:
                assert api.delete("/v1/services/faq").status_code == 204
    finally:
        mesh.supervisor.stop("faq")


def test_a_turn_routed_to_the_example_agent_gets_its_answer(mesh: TestMesh, faq_agent: str) -> None:
    question = f"when are you open on saturday? ({uuid.uuid4().hex[:6]})"
    with meshline.Client(mesh.url, mesh.api_key) as client:
        answered = client.chat(question, agent="faq")
        streamed = "".join(e.text for e in client.stream("do you gift-wrap?", agent="faq") if isinstance(e, DeltaEvent))
    assert answered.route.agents == ["faq"] and answered.content.startswith(f"Echo #1: {question}")
    assert streamed.startswith("Echo #1: do you gift-wrap?")
    faq_prompt = [r for r in mesh.provider_requests() if question in str(r.get("messages"))][-1]
    assert "Answer briefly from these FAQs only" in str(faq_prompt["messages"]), (
        "the agent's own prompt reached the model"
    )


def test_another_tenant_cannot_see_the_example_agents_thread(mesh: TestMesh, faq_agent: str) -> None:
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        rival = admin.keys.create(f"faq-rival-{uuid.uuid4().hex[:6]}", ["chat"]).key
    with meshline.Client(mesh.url, mesh.api_key) as mine, meshline.Client(mesh.url, rival) as theirs:
        asked = mine.chat("is store pickup free?", agent="faq")
        with pytest.raises(MeshlineAPIError) as caught:
            theirs.threads.get(asked.thread_id)
        assert caught.value.status == 404  # not found, not forbidden: ids cannot be probed
        other = theirs.chat("hello", thread_id=asked.thread_id, agent="faq")
        assert other.content.startswith("Echo #1: hello"), "the rival's thread of the same id holds no earlier turn"
        assert [m.role for m in theirs.threads.get(other.thread_id).messages] == ["user", "assistant"]
        assert [m.content for m in mine.threads.get(asked.thread_id).messages][0] == "is store pickup free?"
