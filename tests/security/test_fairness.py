"""Fair share through a running mesh: a noisy tenant far over its limits gets 429s, a quiet tenant
beside it is never refused and never degraded (no timing is asserted: the figures are
bench/fairness.py's).

The noisy tenant's key is minted with its own limits (2 requests/s, 2 turns at once) and sent
about six times that rate from four connections; the quiet tenant chats every half second on the
defaults. The openai SDK, pointed at the mesh with the spent key, sees a RateLimitError.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import openai
import pytest

import meshline
from meshline.testing.mesh import TestMesh
from meshline.testing.wait import wait_until

pytestmark = pytest.mark.e2e
NOISY_RPS, NOISY_TURNS = 2, 2
DURATION_S = 4.0


def mint(mesh: TestMesh, prefix: str, rps: float | None = None, turns: int | None = None) -> str:
    """A chat key of a new tenant (its own limits if given)."""
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        tenant = f"{prefix}-{uuid.uuid4().hex[:6]}"
        return admin.keys.create(tenant, ["chat"], rate_limit_rps=rps, max_concurrent_turns=turns).key


async def chat(http: httpx.AsyncClient, key: str, message: str) -> httpx.Response:
    body = {"message": message, "agent": "general"}
    return await http.post("/v1/chat", json=body, headers={"authorization": f"Bearer {key}"})


async def noisy_load(http: httpx.AsyncClient, key: str, until: float) -> list[httpx.Response]:
    """Four senders, each every 1/3 s: ~12 requests/s against a limit of 2."""
    answers: list[httpx.Response] = []

    async def sender() -> None:
        while time.monotonic() < until:
            answers.append(await chat(http, key, "tell me everything about your shop"))
            await asyncio.sleep(1 / 3)

    async with asyncio.TaskGroup() as group:
        for _ in range(4):
            group.create_task(sender())
    return answers


async def quiet_load(http: httpx.AsyncClient, key: str, until: float, at_least: int = 3) -> list[httpx.Response]:
    """A chat every half second while the noise lasts, and at least ``at_least`` however slow they are."""
    answers = []
    while time.monotonic() < until or len(answers) < at_least:
        answers.append(await chat(http, key, "what are your opening hours?"))
        await asyncio.sleep(0.5)
    return answers


async def test_a_noisy_tenant_is_limited_and_a_quiet_one_is_not(mesh: TestMesh) -> None:
    noisy = mint(mesh, "noisy", NOISY_RPS, NOISY_TURNS)
    quiet = mint(mesh, "quiet")
    until = time.monotonic() + DURATION_S
    async with httpx.AsyncClient(base_url=mesh.url, timeout=60) as http:
        noisy_answers, quiet_answers = await asyncio.gather(
            noisy_load(http, noisy, until), quiet_load(http, quiet, until)
        )

    refused = [r for r in noisy_answers if r.status_code == 429]
    assert refused, "the noisy tenant was never limited"
    assert {r.status_code for r in noisy_answers} <= {200, 429}, "limits answer 429, never an error"
    for response in refused:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["code"] in ("rate_limited", "too_many_concurrent_turns")
    assert any(r.status_code == 200 for r in noisy_answers), "within its limits it is served"

    for response in quiet_answers:
        assert response.status_code == 200, response.text
        assert response.json()["degraded"] is False

    # The OpenAI SDK sees the 429 as its own RateLimitError (its body stays problem+json).
    sdk = openai.OpenAI(base_url=f"{mesh.url}/v1", api_key=noisy, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        for _ in range(NOISY_RPS + 2):  # more than its bucket holds, in well under a second
            await asyncio.to_thread(
                sdk.chat.completions.create, model="meshline/general", messages=[{"role": "user", "content": "hi"}]
            )


async def test_streamed_turns_give_their_slot_back(mesh: TestMesh) -> None:
    """A key with one slot: streamed turns one after another, one left mid-stream, are each admitted."""
    key = mint(mesh, "streams", turns=1)
    headers = {"authorization": f"Bearer {key}"}
    body = {"message": "hello there", "agent": "general", "stream": True}
    async with httpx.AsyncClient(base_url=mesh.url, timeout=60, headers=headers) as http:
        for _ in range(3):
            async with http.stream("POST", "/v1/chat", json=body) as stream:
                assert stream.status_code == 200
                assert b"event: done" in b"".join([chunk async for chunk in stream.aiter_bytes()])
        async with http.stream("POST", "/v1/chat", json=body) as stream:  # left after its first bytes
            assert stream.status_code == 200
            await anext(stream.aiter_bytes())
        answers: list[httpx.Response] = []

        async def admitted() -> bool:
            answers.append(await http.post("/v1/chat", json={**body, "stream": False}))
            return answers[-1].status_code != 429

        await wait_until(admitted, 30, "the slot of the stream left mid-way never came back", interval=0.2)
        answer = answers[-1]
        assert answer.status_code == 200 and answer.json()["degraded"] is False
