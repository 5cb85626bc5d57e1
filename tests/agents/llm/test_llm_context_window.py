"""Context-window overflow: the provider's ``context_length_exceeded`` switches to the larger-context alias."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from meshline.sse import aiter_sse
from tests.agents.llm.llm_helpers import RunLlm, chat, metric_value, provider_root, served_by

WINDOW = 8  # the small model's context window, in the fake provider's (whitespace) tokens
LONG = " ".join(["word"] * 40)


@pytest.fixture
async def small_model(fake_llm_url: str) -> AsyncIterator[str]:
    """A model name of its own (the fake provider is shared) with an 8-token context window."""
    name = f"small-{uuid.uuid4().hex[:8]}"
    root = provider_root(fake_llm_url)
    async with httpx.AsyncClient(timeout=5) as http:
        scripted = await http.post(f"{root}/_context_window", params={"model": name, "tokens": WINDOW})
        assert scripted.status_code == 200
        yield name
        await http.post(f"{root}/_context_window", params={"model": name, "tokens": 0})


def context_config(path: Path, fake_llm_url: str, small: str, *, with_fallback: bool) -> Path:
    deployment = {"api_base": fake_llm_url, "api_key": "k"}
    config: dict[str, object] = {
        "models": [
            {"alias": "default", "model": f"openai/{small}", **deployment},
            {"alias": "long", "model": "openai/large-context", **deployment},
        ]
    }
    if with_fallback:
        config["llm"] = {"context_window_fallbacks": {"default": ["long"]}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def test_a_prompt_too_long_for_the_model_goes_to_the_larger_context_alias(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str, small_model: str
) -> None:
    config = context_config(tmp_path / "ctx.yaml", fake_llm_url, small_model, with_fallback=True)
    async with run_llm(config=config) as client:
        short = await client.post("/v1/chat/completions", json=chat("hi"))
        long = await client.post("/v1/chat/completions", json=chat(LONG))
        async with client.stream("POST", "/v1/chat/completions", json=chat(LONG, stream=True)) as streamed:
            streamed_by = served_by(streamed)
            chunks = [json.loads(event.data) async for event in aiter_sse(streamed) if event.data != "[DONE]"]
        metrics = (await client.get("/metrics")).text
    assert served_by(short) == "default@v1"
    assert served_by(long) == "long@v1"
    assert long.json()["choices"][0]["message"]["content"] == f"Echo #1: {LONG}"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert (streamed_by, text) == ("long@v1", f"Echo #1: {LONG}")
    assert metric_value(metrics, "meshline_llm_fallbacks_total", alias="default", reason="context_window") == 2
    # An overflow is the prompt's fault, not the model's: it neither counts as an error nor cools it down.
    assert metric_value(metrics, "meshline_llm_calls_total", alias="default", version="v1", outcome="error") == 0


async def test_without_a_larger_context_alias_the_overflow_is_the_callers_400(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str, small_model: str
) -> None:
    config = context_config(tmp_path / "ctx.yaml", fake_llm_url, small_model, with_fallback=False)
    async with run_llm(config=config) as client:
        response = await client.post("/v1/chat/completions", json=chat(LONG))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["code"], problem["retryable"]) == ("context_window_exceeded", False)
    assert "maximum context length is 8 tokens" in problem["detail"]
