"""Smoke test: the mesh answers with the bundled SmolLM2 model for real (no fake anywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshline
from meshline.contracts.chat import DeltaEvent, DoneEvent
from meshline.testing.mesh import run_test_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def test_the_bundled_model_answers_through_the_mesh(tmp_path: Path) -> None:
    with (
        run_test_mesh(tmp_path / ".meshline", local_model=True) as mesh,
        meshline.Client(mesh.url, mesh.api_key) as client,
    ):
        reply = client.chat("hello")
        assert reply.route.agents == ["general"]
        assert len(reply.content.split()) >= 2, reply.content
        assert reply.usage.completion_tokens > 0
        events = list(client.stream("What can you help me with?", thread_id=reply.thread_id))
        deltas = [e for e in events if isinstance(e, DeltaEvent)]
        assert len(deltas) > 1 and isinstance(events[-1], DoneEvent)
        assert mesh.provider_requests() == [], "the fake provider stayed idle: the local model answered"
