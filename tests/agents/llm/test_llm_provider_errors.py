"""Provider failures the fake server cannot produce, faked at the HTTP boundary with respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import litellm
import pytest
import respx

from meshline.sse import aiter_sse
from meshline.testing.scripted_model import Reply, ScriptedModel, Wire
from tests.agents.llm.llm_helpers import RunLlm, write_config

PROVIDER = "http://provider.test/v1"
ASK = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.Route]:
    # respx sees httpx only; litellm's default transport is aiohttp.
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)
    with respx.mock(assert_all_called=False) as mock:
        yield mock.post(f"{PROVIDER}/chat/completions")


@pytest.fixture
def provider_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "meshline.yaml", [{"alias": "default", "model": "openai/m", "api_base": PROVIDER, "api_key": "k"}]
    )


async def test_rate_limit_is_a_429_with_retry_after(
    run_llm: RunLlm, provider: respx.Route, provider_config: Path
) -> None:
    provider.mock(
        return_value=httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "3"})
    )
    async with run_llm(config=provider_config) as client:
        response = await client.post("/v1/chat/completions", json=ASK)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    problem = response.json()
    assert (problem["code"], problem["retryable"]) == ("provider_rate_limited", True)


async def test_timeout_is_a_504(run_llm: RunLlm, provider: respx.Route, provider_config: Path) -> None:
    provider.mock(side_effect=httpx.ReadTimeout("provider too slow"))
    async with run_llm(config=provider_config) as client:
        response = await client.post("/v1/chat/completions", json=ASK)
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["retryable"]) == ("provider_timeout", True)


async def test_context_window_is_the_callers_400(run_llm: RunLlm, provider: respx.Route, provider_config: Path) -> None:
    error = {"message": "This model's maximum context length is 2048 tokens", "code": "context_length_exceeded"}
    provider.mock(return_value=httpx.Response(400, json={"error": error}))
    async with run_llm(config=provider_config) as client:
        response = await client.post("/v1/chat/completions", json=ASK)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["retryable"]) == ("context_window_exceeded", False)


async def test_provider_server_error_is_a_retryable_502(
    run_llm: RunLlm, provider: respx.Route, provider_config: Path
) -> None:
    provider.mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    async with run_llm(config=provider_config) as client:
        response = await client.post("/v1/chat/completions", json=ASK)
    assert response.status_code == 502
    assert (response.json()["code"], response.json()["retryable"]) == ("provider_error", True)


async def test_stream_broken_midway_ends_with_an_error_event(
    run_llm: RunLlm, provider: respx.Route, provider_config: Path
) -> None:
    provider.mock(side_effect=ScriptedModel(Reply(text="Hel", break_after=1), wire=Wire(model="m")))
    async with (
        run_llm(config=provider_config) as client,
        client.stream("POST", "/v1/chat/completions", json={**ASK, "stream": True}) as response,
    ):
        assert response.status_code == 200
        events = [event async for event in aiter_sse(response)]
    assert [e.event for e in events] == ["message", "error"]  # no [DONE] after a failure
    assert json.loads(events[0].data)["choices"][0]["delta"]["content"] == "Hel"
    problem = json.loads(events[1].data)
    assert (problem["status"], problem["code"], problem["retryable"]) == (502, "provider_error", True)
    assert problem["error"]["code"] == "provider_error"  # what OpenAI clients raise on
    assert problem["trace_id"] == response.headers["x-trace-id"]
