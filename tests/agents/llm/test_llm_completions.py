"""The LLM layer in-process against the fake OpenAI-compatible provider (a real HTTP server)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from meshline.sse import aiter_sse
from tests.agents.llm.llm_helpers import RunLlm, provider_root, write_config


async def provider_requests(fake_llm_url: str, marker: str) -> list[dict[str, Any]]:
    """What reached the fake provider in calls whose messages mention ``marker``."""
    async with httpx.AsyncClient() as client:
        recorded = (await client.get(f"{provider_root(fake_llm_url)}/_requests")).json()
    return [body for body in recorded if marker in json.dumps(body["messages"])]


async def fail_next(fake_llm_url: str, count: int) -> None:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{provider_root(fake_llm_url)}/_fail", params={"count": count})).raise_for_status()


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "default", "messages": [{"role": "user", "content": text}], **extra}


async def test_completion_returns_openai_json_and_passes_parameters(
    run_llm: RunLlm, fake_config: Path, fake_llm_url: str
) -> None:
    marker = uuid.uuid4().hex
    async with run_llm(config=fake_config) as client:
        response = await client.post(
            "/v1/chat/completions", json=ask(f"hello {marker}", temperature=0.2, max_tokens=16, stop=["END"])
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": f"Echo #1: hello {marker}",
        "tool_calls": None,
        "function_call": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    [sent] = await provider_requests(fake_llm_url, marker)
    assert sent["model"] == "smollm2"  # the deployment's model, not the alias
    assert (sent["temperature"], sent["max_tokens"], sent["stop"]) == (0.2, 16, ["END"])


async def test_streaming_relays_chunks_then_usage_then_done(
    run_llm: RunLlm, fake_config: Path, fake_llm_url: str
) -> None:
    marker = uuid.uuid4().hex
    body = ask(f"one two {marker}", stream=True)
    async with run_llm(config=fake_config) as client, client.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [event async for event in aiter_sse(resp)]
    assert events[-1].data == "[DONE]"
    assert all(event.event == "message" for event in events)
    chunks = [json.loads(event.data) for event in events[:-1]]
    assert len(chunks) >= 4
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == f"Echo #1: one two {marker}"
    assert chunks[-1]["usage"]["completion_tokens"] == 5  # "Echo #1: one two <marker>"
    [sent] = await provider_requests(fake_llm_url, marker)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}  # asked for even though the caller did not


async def test_models_lists_aliases_with_their_deployment_counts(run_llm: RunLlm, fake_config: Path) -> None:
    async with run_llm(config=fake_config) as client:
        response = await client.get("/v1/models")
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            {"id": "default", "object": "model", "owned_by": "meshline", "stable": "v1", "deployments": 2},
            {"id": "fast", "object": "model", "owned_by": "meshline", "stable": "v1", "deployments": 1},
        ],
    }


async def test_unknown_alias_is_a_404_problem(run_llm: RunLlm, fake_config: Path) -> None:
    async with run_llm(config=fake_config) as client:
        response = await client.post("/v1/chat/completions", json={**ask("hi"), "model": "gpt-9"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["retryable"]) == ("unknown_model", False)
    assert "default, fast" in problem["detail"]


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [(None, 401, "missing_token"), ("not-a-jwt", 401, "invalid_token"), ("other-audience", 403, "wrong_audience")],
)
async def test_calls_need_a_service_token_for_llm(
    run_llm: RunLlm, fake_config: Path, issue_token: Any, token: str | None, status: int, code: str
) -> None:
    if token == "other-audience":
        token = issue_token(audience=["memory"])
    async with run_llm(config=fake_config, token=token) as client:
        for response in (await client.get("/v1/models"), await client.post("/v1/chat/completions", json=ask("hi"))):
            assert response.status_code == status
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == code
        assert (await client.get("/healthz")).status_code == 200  # ops endpoints stay open


async def test_malformed_and_invalid_bodies_are_problems(run_llm: RunLlm, fake_config: Path) -> None:
    async with run_llm(config=fake_config) as client:
        malformed = await client.post(
            "/v1/chat/completions",
            content=b'{"model": "default", "messages": [',
            headers={"content-type": "application/json"},
        )
        empty = await client.post("/v1/chat/completions", json={"model": "default", "messages": []})
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    assert malformed.json()["code"] == "malformed_json"
    assert empty.status_code == 422
    assert empty.json()["code"] == "validation_error"


async def test_provider_outage_is_a_retryable_503_problem(
    run_llm: RunLlm, fake_config: Path, fake_llm_url: str
) -> None:
    async with run_llm(config=fake_config) as client:
        await fail_next(fake_llm_url, 1)
        whole = await client.post("/v1/chat/completions", json=ask("hi"))
        await fail_next(fake_llm_url, 1)
        streamed = await client.post("/v1/chat/completions", json=ask("hi", stream=True))
        recovered = await client.post("/v1/chat/completions", json=ask("again"))
    for response in (whole, streamed):  # a stream failing before its first chunk gets a real status
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert (problem["code"], problem["retryable"]) == ("provider_unavailable", True)
        assert "fake outage" in problem["detail"]
    assert recovered.status_code == 200


async def test_router_retries_a_failed_call(run_llm: RunLlm, fake_config: Path, fake_llm_url: str) -> None:
    marker = uuid.uuid4().hex
    async with run_llm(config=fake_config, num_retries=1) as client:
        await fail_next(fake_llm_url, 1)
        response = await client.post("/v1/chat/completions", json=ask(marker))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == f"Echo #1: {marker}"
    assert len(await provider_requests(fake_llm_url, marker)) == 2


async def test_model_setting_repoints_the_default_alias(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file's default deployment is unreachable; the override must be what gets called.
    config = write_config(
        tmp_path / "meshline.yaml",
        [
            {"alias": "default", "model": "openai/smollm2", "api_base": "http://127.0.0.1:9/v1"},
            {"alias": "fast", "model": "openai/smollm2", "api_base": fake_llm_url, "api_key": "local"},
        ],
    )
    monkeypatch.setenv("MESHLINE_LLM_MODEL", "openai/override-model")
    monkeypatch.setenv("MESHLINE_LLM_API_BASE", fake_llm_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    marker = uuid.uuid4().hex
    async with run_llm(config=config) as client:
        response = await client.post("/v1/chat/completions", json=ask(marker))
        models = (await client.get("/v1/models")).json()
        ready = await client.get("/readyz")
    assert response.status_code == 200, response.text
    [sent] = await provider_requests(fake_llm_url, marker)
    assert sent["model"] == "override-model"
    assert [(m["id"], m["deployments"]) for m in models["data"]] == [("default", 1), ("fast", 1)]
    assert ready.status_code == 200


async def test_model_setting_works_without_a_config_file(run_llm: RunLlm, tmp_path: Path, fake_llm_url: str) -> None:
    marker = uuid.uuid4().hex
    settings = {"model": "openai/solo", "api_base": fake_llm_url, "api_key": "sk-local"}
    async with run_llm(config=tmp_path / "absent.yaml", **settings) as client:
        response = await client.post("/v1/chat/completions", json=ask(marker))
        models = (await client.get("/v1/models")).json()
    assert response.status_code == 200, response.text
    assert [m["id"] for m in models["data"]] == ["default"]
    [sent] = await provider_requests(fake_llm_url, marker)
    assert sent["model"] == "solo"


async def test_readiness_follows_the_default_deployments(run_llm: RunLlm, fake_config: Path, tmp_path: Path) -> None:
    async with run_llm(config=fake_config) as client:
        ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()["checks"]) == (200, {"models": "ok", "redis": "ok"})

    down = write_config(
        tmp_path / "down.yaml", [{"alias": "default", "model": "openai/x", "api_base": "http://127.0.0.1:9/v1"}]
    )
    async with run_llm(config=down) as client:
        not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503
    assert "no deployment of the 'default' alias answers" in not_ready.json()["checks"]["models"]

    hosted = write_config(tmp_path / "hosted.yaml", [{"alias": "default", "model": "openai/gpt-4o-mini"}])
    async with run_llm(config=hosted) as client:
        assert (await client.get("/readyz")).status_code == 200  # nothing of ours to probe


async def test_a_spent_deadline_is_not_sent_to_the_provider(run_llm: RunLlm, fake_config: Path) -> None:
    async with run_llm(config=fake_config) as client:
        response = await client.post(
            "/v1/chat/completions", json=ask("late"), headers={"x-meshline-deadline": f"{time.time() - 1:.3f}"}
        )
    assert response.status_code == 422  # arrived after its own deadline: the request made itself impossible
    assert response.json()["code"] == "deadline_passed"
