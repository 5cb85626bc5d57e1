"""Concurrent chats on the bundled model queue for it instead of breaking each other.

The real SmolLM2 under llama-cpp-python's server, as ``meshline up`` runs it (interrupts off, the
LLM layer sending it one call at a time): several streamed chats sent at once all complete
undegraded, and each thread stores exactly the text its stream showed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml

import meshline
from meshline.cli.local_mesh import local_model_url
from meshline.contracts.chat import DoneEvent, StreamEvent
from meshline.testing.mesh import TestMesh, run_test_mesh
from tests.orchestrator.stream_helpers import shown_text

pytestmark = [pytest.mark.e2e, pytest.mark.model]
PROFILES = Path(__file__).resolve().parents[2] / "agents" / "assistant" / "profiles"
CHATS = ("hi there", "good morning!", "who are you?")


def short_general_profile(path: Path) -> Path:
    """The general profile with short answers: the model does ~17 tokens/s on one busy core."""
    profile = yaml.safe_load((PROFILES / "general.yaml").read_text())
    profile["max_tokens"] = 12
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


async def streamed_chat(mesh: TestMesh, message: str) -> list[StreamEvent]:
    async with meshline.AsyncClient(mesh.url, mesh.api_key, timeout=300) as client:
        return [event async for event in client.stream(message, agent="general", timeout_s=240)]


def test_concurrent_streamed_chats_on_the_bundled_model_all_complete_undegraded(tmp_path: Path) -> None:
    profile = short_general_profile(tmp_path / "general.yaml")
    env = {"general": {"MESHLINE_ASSISTANT_PROFILE": str(profile)}}
    with run_test_mesh(tmp_path / ".meshline", local_model=True, services={"general", "crm"}, env=env) as mesh:

        async def all_at_once() -> list[list[StreamEvent]]:
            return await asyncio.gather(*(streamed_chat(mesh, message) for message in CHATS))

        streams = asyncio.run(all_at_once())
        with meshline.Client(mesh.url, mesh.api_key) as client:
            for events in streams:
                done = events[-1]
                assert isinstance(done, DoneEvent)
                reply = done.response
                assert not reply.degraded, reply.content
                assert reply.content.strip() and reply.usage.completion_tokens > 0
                stored = client.threads.get(reply.thread_id).messages[-1]
                assert shown_text(events) == reply.content == stored.content
                assert stored.degraded is None and stored.error is None
        assert mesh.provider_requests() == [], "the fake provider stayed idle: the local model answered"
        # The LLM layer queued them for the server's one slot (nothing refused).
        local = local_model_url(mesh.specs["local-model"].port)
        metrics = httpx.get(
            f"{mesh.specs['llm'].url}/metrics",
            headers={"authorization": f"Bearer {mesh.secrets.metrics_token}"},
            timeout=10,
        ).text
        assert f'meshline_bulkhead_in_use{{target="{local}"}} 0.0' in metrics
        assert f'meshline_bulkhead_rejections_total{{target="{local}"}}' not in metrics
