"""Concurrency per endpoint: calls to a one-at-a-time model server queue in the LLM layer, in order,
and a full queue is a 503 problem that does not count against the model version."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meshline.cli.ports import free_port
from meshline.testing.fake_openai import start_fake_openai
from meshline.testing.wait import wait_until
from tests.agents.llm.llm_helpers import RunLlm, chat, provider_root, write_config


@pytest.fixture
def own_provider() -> Iterator[str]:
    """A fake provider of this test alone: its scripted hang must not reach other tests."""
    port = free_port()
    proc = start_fake_openai(port)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait()


def one_slot_config(tmp_path: Path, url: str) -> Path:
    deployment = {"model": "openai/smollm2", "api_base": url, "api_key": "local"}
    return write_config(tmp_path / "meshline.yaml", [{"alias": "default", **deployment}])


async def behave(url: str, mode: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(f"{provider_root(url)}/_behave", params={"model": "smollm2", "mode": mode})
        response.raise_for_status()


async def hanging(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        count: int = (await client.get(f"{provider_root(url)}/_hanging")).json()["hanging"]
        return count


async def wait_until_hanging(url: str, count: int) -> None:
    async def reached() -> bool:  # the provider has no wait endpoint: poll it
        return await hanging(url) >= count

    await wait_until(reached, timeout=20, what=f"{count} hanging call(s)")


async def test_a_call_queues_for_the_busy_endpoint_and_is_served_when_it_frees(
    run_llm: RunLlm, tmp_path: Path, own_provider: str
) -> None:
    config = one_slot_config(tmp_path, own_provider)
    async with run_llm(config=config, endpoint_limits={own_provider: 1}, endpoint_queue_s=30) as client:
        await behave(own_provider, "hang")
        first = asyncio.create_task(client.post("/v1/chat/completions", json=chat("first", stream=True)))
        await wait_until_hanging(own_provider, 1)
        await behave(own_provider, "ok")
        second = asyncio.create_task(client.post("/v1/chat/completions", json=chat("second", stream=True)))
        await asyncio.sleep(0.5)
        assert not second.done(), "the second call went past the one slot"
        assert await hanging(own_provider) == 1, "the server got a second call while busy"
        first.cancel()  # the caller gives up: its slot goes to the one waiting
        with contextlib.suppress(asyncio.CancelledError):
            await first
        response = await asyncio.wait_for(second, timeout=20)
    assert response.status_code == 200, response.text
    assert "second" in response.text and response.text.rstrip().endswith("data: [DONE]")


async def test_a_full_queue_is_a_503_problem_and_no_failure_of_the_version(
    run_llm: RunLlm, tmp_path: Path, own_provider: str
) -> None:
    config = one_slot_config(tmp_path, own_provider)
    settings = {"endpoint_limits": {own_provider + "/": 1}, "endpoint_queue_s": 0.3, "cooldown_failures": 1}
    async with run_llm(config=config, **settings) as client:
        await behave(own_provider, "hang")
        held = asyncio.create_task(client.post("/v1/chat/completions", json=chat("held")))
        await wait_until_hanging(own_provider, 1)
        rejected = [await client.post("/v1/chat/completions", json=chat("busy", stream=s)) for s in (False, True)]
        held.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await held
        await behave(own_provider, "ok")
        after = await client.post("/v1/chat/completions", json=chat("after"))
    for response in rejected:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        problem = response.json()
        assert (problem["code"], problem["retryable"]) == ("bulkhead_full", True)
        assert "busy" in problem["detail"]
    # With cooldown_failures=1 one counted failure would have cooled the version down.
    assert after.status_code == 200, after.text
