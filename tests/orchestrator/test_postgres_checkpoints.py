"""Threads in LangGraph's Postgres saver survive an orchestrator restart (needs DATABASE_URL; CI sets it)."""

from __future__ import annotations

import os
import uuid

import pytest

from meshline.orchestrator.app import create_app
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.orchestrator.turns import TurnRunner
from meshline.testing.asgi import asgi_client

DATABASE_URL = os.environ.get("DATABASE_URL")
pytestmark = pytest.mark.skipif(not DATABASE_URL, reason="set DATABASE_URL to a PostgreSQL database")
ADMIN = "pg-admin-key"


async def test_thread_survives_restart(mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_DATABASE_URL", str(DATABASE_URL))
    thread_id = f"pg-{uuid.uuid4().hex}"
    admin = Principal("default", None, frozenset({"chat", "admin"}), "admin")

    first = create_app(OrchestratorSettings())
    async with first.router.lifespan_context(first):
        runner: TurnRunner = first.state.turns
        config = runner._config(acting_user(admin, None), thread_id)  # as the key itself: key:admin
        messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi!", "agent": "general"}]
        await runner.graph.aupdate_state(config, {"messages": messages, "turn_id": "t1"}, as_node="remember")

    second = create_app(OrchestratorSettings())
    async with asgi_client(second, "http://o") as http:
        auth = {"authorization": f"Bearer {ADMIN}"}
        thread = (await http.get(f"/v1/threads/{thread_id}", headers=auth)).json()
        assert [m["content"] for m in thread["messages"]] == ["hello", "hi!"]
        # Another user of the same tenant cannot see it.
        other = await http.get(f"/v1/threads/{thread_id}?user=mallory", headers=auth)
        assert other.status_code == 404
        assert (await http.delete(f"/v1/threads/{thread_id}", headers=auth)).status_code == 204
        assert (await http.get(f"/v1/threads/{thread_id}", headers=auth)).status_code == 404
