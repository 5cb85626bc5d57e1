"""Threads in either checkpointer (SQLite, the default, and Postgres when DATABASE_URL is set):
they survive an orchestrator restart, stay their own user's and tenant's, and the turn state's
models come back as models (while a thread written with plain-dict state still loads)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from meshline.contracts.agent import AgentResult
from meshline.contracts.chat import RouteDecision
from meshline.errors import NotFound
from meshline.orchestrator.app import create_app
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.dispatch_outcome import DispatchFailure
from meshline.orchestrator.identity import Actor, acting_user
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.orchestrator.turn_state import TurnState
from meshline.orchestrator.turns import TurnRunner
from meshline.testing.asgi import asgi_client

DATABASE_URL = os.environ.get("DATABASE_URL")
ADMIN = "checkpoint-admin-key"
ADMIN_PRINCIPAL = Principal("default", None, frozenset({"chat", "admin"}), "admin")
ANN_AT_ACME, ANN_AT_GLOBEX, BOB_AT_ACME = Actor("acme", "ann"), Actor("globex", "ann"), Actor("acme", "bob")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.skipif(not DATABASE_URL, reason="set DATABASE_URL to PostgreSQL")),
    ]
)
def checkpoints(request: pytest.FixtureRequest, mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The orchestrator's environment for one checkpointer (SQLite: a file under MESHLINE_HOME)."""
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    if request.param == "postgres":
        monkeypatch.setenv("MESHLINE_ORCHESTRATOR_DATABASE_URL", str(DATABASE_URL))
    else:
        monkeypatch.delenv("MESHLINE_ORCHESTRATOR_DATABASE_URL", raising=False)
    return str(request.param)


@asynccontextmanager
async def orchestrator() -> AsyncIterator[tuple[TurnRunner, httpx.AsyncClient]]:
    """One orchestrator process's lifetime: its turn runner, and an HTTP client on its API."""
    app = create_app(OrchestratorSettings())
    async with asgi_client(app, "http://o") as http:
        yield app.state.turns, http


async def write_thread(runner: TurnRunner, actor: Actor, thread_id: str, text: str) -> None:
    """A finished turn of ``actor``'s, as the graph's last node would leave it."""
    state: TurnState = {
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "hi!", "agent": "general"}],
        "turn_id": "t1",
    }
    await runner.graph.aupdate_state(runner._config(actor, thread_id), state, as_node="remember")


async def test_threads_are_their_own_users_and_tenants(checkpoints: str) -> None:
    thread_id = f"iso-{uuid.uuid4().hex}"
    async with orchestrator() as (runner, _):
        await write_thread(runner, ANN_AT_ACME, thread_id, "ann at acme")
        await write_thread(runner, ANN_AT_GLOBEX, thread_id, "ann at globex")  # same user name and thread id
    async with orchestrator() as (runner, http):  # after a restart
        assert [m.content for m in (await runner.thread(ANN_AT_ACME, thread_id)).messages] == ["ann at acme", "hi!"]
        assert [m.content for m in (await runner.thread(ANN_AT_GLOBEX, thread_id)).messages][0] == "ann at globex"
        with pytest.raises(NotFound):
            await runner.thread(BOB_AT_ACME, thread_id)  # another user of the same tenant
        with pytest.raises(NotFound):
            await runner.delete_thread(BOB_AT_ACME, thread_id)
        await runner.delete_thread(ANN_AT_GLOBEX, thread_id)
        assert [m.content for m in (await runner.thread(ANN_AT_ACME, thread_id)).messages][0] == "ann at acme"

        # Over the API: the key's own thread, which another user of its tenant cannot reach.
        await write_thread(runner, acting_user(ADMIN_PRINCIPAL, None), thread_id, "hello")
        auth = {"authorization": f"Bearer {ADMIN}"}
        assert [
            m["content"] for m in (await http.get(f"/v1/threads/{thread_id}", headers=auth)).json()["messages"]
        ] == [
            "hello",
            "hi!",
        ]
        assert (await http.get(f"/v1/threads/{thread_id}?user=mallory", headers=auth)).status_code == 404
        assert (await http.delete(f"/v1/threads/{thread_id}?user=mallory", headers=auth)).status_code == 404
        assert (await http.delete(f"/v1/threads/{thread_id}", headers=auth)).status_code == 204
        assert (await http.get(f"/v1/threads/{thread_id}", headers=auth)).status_code == 404


async def test_the_turn_states_models_round_trip_and_plain_dict_state_still_loads(checkpoints: str) -> None:
    typed, plain = f"typed-{uuid.uuid4().hex}", f"plain-{uuid.uuid4().hex}"
    route = RouteDecision(agents=["commerce"], method="examples", confidence=0.9)
    result = AgentResult(task_id="t1", agent="general", content="hi!", fallback_for="commerce")
    failure = DispatchFailure(agent="commerce", code="circuit_open", retryable=True, message="paused")
    async with orchestrator() as (runner, _):
        config = runner._config(ANN_AT_ACME, typed)
        state: TurnState = {"route": route, "results": [result], "errors": {"commerce": failure}, "turn_id": "t1"}
        await runner.graph.aupdate_state(config, state, as_node="remember")
        # As threads were checkpointed before the state was typed: route and results as dicts.
        old = {"route": route.model_dump(), "results": [result.model_dump(mode="json")], "errors": {"commerce": "x"}}
        await runner.graph.aupdate_state(
            runner._config(ANN_AT_ACME, plain), {**old, "turn_id": "t0"}, as_node="remember"
        )
    async with orchestrator() as (runner, _):
        values = (await runner.graph.aget_state(runner._config(ANN_AT_ACME, typed))).values
        assert (values["route"], values["results"], values["errors"]) == (route, [result], {"commerce": failure})
        assert isinstance(values["route"], RouteDecision) and isinstance(values["results"][0], AgentResult)
        assert isinstance(values["errors"]["commerce"], DispatchFailure)
        old_values = (await runner.graph.aget_state(runner._config(ANN_AT_ACME, plain))).values
        assert old_values["route"] == route.model_dump() and old_values["turn_id"] == "t0"
