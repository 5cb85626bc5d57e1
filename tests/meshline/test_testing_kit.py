"""The test kit itself: the scripted model, asgi_client, wait_until and the manual clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import respx
from fastapi import FastAPI

from meshline.agents.llm.health import Cooldowns, HealthWindows, RollbackThresholds
from meshline.testing.asgi import asgi_client
from meshline.testing.clock import ManualClock
from meshline.testing.scripted_model import ProviderError, Reply, ScriptedModel, Usage
from meshline.testing.wait import WaitTimeout, wait_until, wait_until_sync

URL = "http://provider.test/v1/chat/completions"


async def ask(stream: bool = False) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            URL, json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        )


async def test_replies_come_in_order_and_the_last_repeats() -> None:
    model = ScriptedModel([("get_order", {"order_id": 7})], "done")
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=model)
        first, second, third = [(await ask()).json()["choices"][0] for _ in range(3)]
    call = first["message"]["tool_calls"][0]
    assert (first["finish_reason"], first["message"]["content"]) == ("tool_calls", None)
    assert (call["id"], call["function"]["name"], json.loads(call["function"]["arguments"])) == (
        "call-1-0",
        "get_order",
        {"order_id": 7},
    )
    assert second["message"]["content"] == third["message"]["content"] == "done"
    assert len(model.requests) == 3 and model.last["messages"][0]["content"] == "hi"


async def test_a_function_answers_and_streams_when_asked() -> None:
    model = ScriptedModel(function=lambda request: f"you said {request.messages[-1].content}")
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=model)
        streamed = await ask(stream=True)
    events = [line.removeprefix("data: ") for line in streamed.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "you said hi"
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


async def test_errors_and_broken_streams() -> None:
    limited = Reply(error=ProviderError(status=429, message="slow down", headers={"retry-after": "3"}))
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=ScriptedModel(limited))
        refused = await ask()
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")
    assert refused.json()["error"]["message"] == "slow down"
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=ScriptedModel(Reply(text="one two three", break_after=1)))
        async with httpx.AsyncClient() as client:
            body = {"model": "m", "messages": [], "stream": True}
            async with client.stream("POST", URL, json=body) as response:
                with pytest.raises(httpx.ReadError):
                    _ = [chunk async for chunk in response.aiter_bytes()]


async def test_asgi_client_runs_the_lifespan() -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        seen.append("up")
        yield
        seen.append("down")

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    async with asgi_client(app) as client:
        assert seen == ["up"]
        assert (await client.get("/ping")).json() == {"pong": "yes"}
    assert seen == ["up", "down"]


async def test_wait_until_returns_once_true_and_says_what_did_not_happen() -> None:
    calls = [0]

    async def third_time() -> bool:
        calls[0] += 1
        return calls[0] >= 3

    await wait_until(third_time, timeout=1)
    assert calls[0] == 3
    with pytest.raises(WaitTimeout, match="the sky fell"):
        await wait_until(lambda: False, timeout=0.05, what="the sky fell")
    with pytest.raises(WaitTimeout):
        wait_until_sync(lambda: False, timeout=0.05)


def test_a_manual_clock_ages_health_windows_and_ends_cooldowns() -> None:
    clock = ManualClock()
    windows = HealthWindows(RollbackThresholds(60, 1, 0.5, 5.0), clock=clock)
    windows.record("default@v2", ok=False, latency_s=0.1)
    assert windows.stats("default@v2").requests == 1
    clock.advance(61)
    assert windows.stats("default@v2").requests == 0
    cooldowns = Cooldowns(failures=2, window_s=10, cooldown_s=30, clock=clock)
    cooldowns.failed("backup")
    cooldowns.failed("backup")
    assert cooldowns.cooling("backup") == 30
    clock.advance(30)
    assert cooldowns.cooling("backup") == 0
    assert Usage(prompt_tokens=1, completion_tokens=2).total_tokens == 3
