"""Response cache, tenant quotas and budgets, and a usage ledger that adds up exactly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import litellm
import yaml

from meshline.sse import aiter_sse
from tests.agents.llm.llm_helpers import RunLlm, admin_headers, chat, metric_value, provider_root, write_config


async def provider_calls(fake_llm_url: str, marker: str) -> int:
    async with httpx.AsyncClient() as client:
        recorded = (await client.get(f"{provider_root(fake_llm_url)}/_requests")).json()
    return sum(1 for body in recorded if marker in json.dumps(body["messages"]))


def priced_config(tmp_path: Path, fake_llm_url: str, llm: dict[str, Any] | None = None) -> Path:
    """``default`` is gpt-4o-mini (priced in litellm's map) served by the fake provider."""
    path = write_config(
        tmp_path / "priced.yaml",
        [{"alias": "default", "model": "openai/gpt-4o-mini", "api_base": fake_llm_url, "api_key": "k"}],
    )
    if llm:
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "llm": llm}))
    return path


async def test_deterministic_requests_are_cached_and_can_bypass_it(
    run_llm: RunLlm, fake_config: Path, fake_llm_url: str
) -> None:
    marker = uuid.uuid4().hex
    async with run_llm(config=fake_config) as client:
        url = "/v1/chat/completions"
        miss = await client.post(url, json=chat(marker, temperature=0))
        hit = await client.post(url, json=chat(marker, temperature=0))
        bypass = await client.post(url, json=chat(marker, temperature=0), headers={"cache-control": "no-cache"})
        sampled = [await client.post(url, json=chat(marker, temperature=0.7)) for _ in range(2)]
        asked = [await client.post(url, json=chat(marker, temperature=0.9, cache=True)) for _ in range(2)]
        metrics = (await client.get("/metrics")).text
    assert [miss.headers["x-meshline-cache"], hit.headers["x-meshline-cache"]] == ["miss", "hit"]
    assert hit.json()["choices"] == miss.json()["choices"]
    assert bypass.headers["x-meshline-cache"] == "bypass"
    assert [r.headers["x-meshline-cache"] for r in sampled] == ["skip", "skip"]
    assert [r.headers["x-meshline-cache"] for r in asked] == ["miss", "hit"]
    assert await provider_calls(fake_llm_url, marker) == 5  # miss, bypass, 2 sampled, 1 asked
    assert metric_value(metrics, "meshline_llm_cache_requests_total", result="hit") == 2
    assert metric_value(metrics, "meshline_llm_cache_requests_total", result="miss") == 2


async def test_request_rate_limit_answers_429_with_retry_after(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str, issue_token: Callable[..., str]
) -> None:
    config = priced_config(tmp_path, fake_llm_url, {"tenants": {"acme": {"requests_per_minute": 3}}})
    other = {"authorization": f"Bearer {issue_token(audience=['llm'], tenant='globex')}"}
    async with run_llm(config=config) as client:
        statuses = [(await client.post("/v1/chat/completions", json=chat("hi"))).status_code for _ in range(3)]
        limited = await client.post("/v1/chat/completions", json=chat("hi"))
        unaffected = await client.post("/v1/chat/completions", json=chat("hi"), headers=other)
    assert statuses == [200, 200, 200]
    assert (limited.status_code, limited.json()["code"]) == (429, "tenant_rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert unaffected.status_code == 200  # another tenant has its own (default: unlimited) quota


async def test_token_rate_and_budget_limits(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str, issue_token: Callable[..., str]
) -> None:
    tokens = priced_config(tmp_path, fake_llm_url, {"default_limits": {"tokens_per_minute": 5}})
    async with run_llm(config=tokens) as client:
        first = await client.post("/v1/chat/completions", json=chat("one two three four five six"))
        second = await client.post("/v1/chat/completions", json=chat("again"))
    assert first.status_code == 200
    assert (second.status_code, second.json()["code"]) == (429, "tenant_token_limited")

    budget = priced_config(tmp_path, fake_llm_url, {"default_limits": {"budget_usd": 0.000001}})
    fresh_tenant = issue_token(audience=["llm"], tenant="initech")  # the calls above spent acme's money
    async with run_llm(config=budget, token=fresh_tenant) as client:
        spent = await client.post("/v1/chat/completions", json=chat("spend it"))
        refused = await client.post("/v1/chat/completions", json=chat("more"))
    assert spent.status_code == 200
    assert (refused.status_code, refused.json()["code"]) == (429, "budget_exceeded")
    assert int(refused.headers["retry-after"]) > 0


async def test_usage_totals_add_up_exactly_including_streams(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str, issue_token: Callable[..., str]
) -> None:
    config = priced_config(tmp_path, fake_llm_url)
    expected_tokens = {"prompt_tokens": 0, "completion_tokens": 0}
    expected_nano = 0

    def count(usage: dict[str, int]) -> None:
        nonlocal expected_nano
        for key in expected_tokens:
            expected_tokens[key] += usage[key]
        prompt_cost, completion_cost = litellm.cost_per_token(
            model="openai/gpt-4o-mini",
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
        )
        expected_nano += round((prompt_cost + completion_cost) * 1_000_000_000)

    async with run_llm(config=config) as client:
        for i, agent in enumerate(["commerce", "account", "commerce", "general"]):
            response = await client.post(
                "/v1/chat/completions", json=chat(f"question {i} " * (i + 1)), headers={"x-meshline-agent": agent}
            )
            count(response.json()["usage"])
        body = chat("stream this please", stream=True)
        async with client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"x-meshline-agent": "general"}
        ) as s:
            chunks = [json.loads(e.data) for e in [e async for e in aiter_sse(s)] if e.data != "[DONE]"]
        count(chunks[-1]["usage"])
        report = (await client.get("/v1/usage")).json()
        admin = admin_headers(issue_token(audience=["llm"], scopes=("admin", "usage:read"), tenant="ops"))
        as_admin = (await client.get("/v1/usage", params={"tenant": "acme"}, headers=admin)).json()
        foreign = await client.get("/v1/usage", params={"tenant": "ops"})
    total = report["total"]
    assert (total["prompt_tokens"], total["completion_tokens"]) == (
        expected_tokens["prompt_tokens"],
        expected_tokens["completion_tokens"],
    )
    assert total["requests"] == 5
    assert total["cost_nano_usd"] == expected_nano > 0
    assert {(r["agent"], r["requests"]) for r in report["rows"]} == {("account", 1), ("commerce", 2), ("general", 2)}
    for metric in ("requests", "prompt_tokens", "completion_tokens", "cost_nano_usd"):
        assert sum(row[metric] for row in report["rows"]) == total[metric]
    assert as_admin["total"] == total
    assert foreign.status_code == 404  # another tenant's usage is not found, not forbidden
