"""The orchestrator's request-path timeouts are settings: read from the environment, bounded, wired in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from meshline.orchestrator.app import create_app
from meshline.orchestrator.memory_client import MemoryClient
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience import RetryPolicy, ServiceClient
from meshline.testing.asgi import asgi_client

TIMEOUTS = {
    "registry_probe_timeout_s": 2.0,
    "registry_resolve_timeout_s": 5.0,
    "mcp_list_timeout_s": 5.0,
    "mcp_probe_timeout_s": 2.0,
    "memory_recall_timeout_s": 3.0,
    "memory_remember_timeout_s": 3.0,
    "knowledge_timeout_s": 30.0,
    "models_admin_timeout_s": 10.0,
    "keys_db_timeout_s": 3.0,
    "keys_db_connect_timeout_s": 3,
}


def env_name(field: str) -> str:
    return f"MESHLINE_ORCHESTRATOR_{field.upper()}"


def test_the_timeouts_keep_their_defaults() -> None:
    settings = OrchestratorSettings()
    assert {field: getattr(settings, field) for field in TIMEOUTS} == TIMEOUTS


@pytest.mark.parametrize("field", sorted(TIMEOUTS))
def test_each_timeout_reads_its_environment_variable(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env_name(field), "7")
    assert getattr(OrchestratorSettings(), field) == 7


@pytest.mark.parametrize("value", ["0", "-1", "1000"])
@pytest.mark.parametrize("field", sorted(TIMEOUTS))
def test_a_timeout_must_be_positive_and_bounded(field: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env_name(field), value)
    with pytest.raises(ValidationError, match=field):
        OrchestratorSettings()


async def test_the_app_hands_each_timeout_to_its_user(
    mesh_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for field in TIMEOUTS:
        monkeypatch.setenv(env_name(field), "9")
    app = create_app(OrchestratorSettings())
    async with asgi_client(app, "http://orchestrator"):
        state = app.state
        assert state.registry.http.timeout_s == 9
        assert state.registry.guard.resolve_timeout_s == 9
        assert (state.registry.mcp.list_timeout_s, state.registry.mcp.probe_timeout_s) == (9, 9)
        assert state.kb_proxy.timeout_s == 9
        assert state.api_keys.db_timeout_s == 9
        assert state.settings.models_admin_timeout_s == 9  # read by the admin proxy on each call


async def test_a_short_recall_timeout_gives_up_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hangs(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200, json={"hits": []})

    monkeypatch.setenv(env_name("memory_recall_timeout_s"), "0.2")
    monkeypatch.setenv(env_name("memory_remember_timeout_s"), "0.2")
    settings = OrchestratorSettings()
    client = ServiceClient(retry=RetryPolicy(max_attempts=1), transport=httpx.MockTransport(hangs))
    memory = MemoryClient(
        client,
        "http://memory",
        recall_timeout_s=settings.memory_recall_timeout_s,
        remember_timeout_s=settings.memory_remember_timeout_s,
    )
    try:
        start = time.perf_counter()
        assert await memory.recall("what did I order?", 5, token="t") == []
        assert await memory.remember("an answer", {}, token="t", memory_id="m1") is False
        assert time.perf_counter() - start < 2, "each call is cut at its configured timeout"
    finally:
        await client.aclose()
