"""Short deadlines are the caller's business, through a running mesh.

A tenant sending a dozen turns pinned to `commerce` with the shortest deadline the mesh accepts,
while the model hangs (so every one of them runs out of its own time inside the agent's call),
does not open the agent's breaker, shared by every replica through Redis: another tenant's next
commerce question is answered by commerce itself, not degraded. A `timeout_s` the turn cannot
meet is refused with 422 problem+json naming the limit, never a retryable 504.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

import meshline
from meshline.testing.mesh import TestMesh
from meshline.testing.wait import WaitTimeout, wait_until_sync
from tests.security.test_identity import mint

pytestmark = pytest.mark.e2e

MIN_TIMEOUT_S = 4.0  # MESHLINE_ORCHESTRATOR_MIN_TURN_TIMEOUT_S's default
NOISY_TURNS, AT_ONCE = 12, 4  # a dozen, four at a time (within a per-key concurrency limit)


@contextmanager
def hanging_model(mesh: TestMesh) -> Iterator[None]:
    """The model answers nobody until the caller gives up, then answers again."""
    mesh.provider("/_behave", "POST", model="fake-model", mode="hang")
    try:
        yield
    finally:
        mesh.provider("/_behave", "POST", model="fake-model", mode="ok")


def chat(mesh: TestMesh, key: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{mesh.url}/v1/chat", json=body, headers={"authorization": f"Bearer {key}", **(headers or {})}, timeout=60
    )


def commerce_breaker(mesh: TestMesh) -> str | None:
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        return next(s.breaker for s in admin.services.list() if s.name == "commerce")


def llm_cooling(mesh: TestMesh) -> dict[str, float]:
    """Seconds each model group of the LLM layer is still cooling down for (0: callable)."""
    with httpx.Client(base_url=mesh.url, headers={"authorization": f"Bearer {mesh.admin_key}"}) as admin:
        listing = admin.get("/v1/admin/models", timeout=10).json()
    return {f"{a['alias']}@{v['version']}": v["cooling_down_s"] for a in listing["aliases"] for v in a["versions"]}


def wait_until_callable(mesh: TestMesh, timeout_s: float = 30.0) -> None:
    with contextlib.suppress(WaitTimeout):  # best effort, as before: the test goes on either way
        wait_until_sync(lambda: not any(llm_cooling(mesh).values()), timeout_s, interval=0.5)


def test_short_deadline_turns_of_one_tenant_leave_commerce_to_the_others(mesh: TestMesh) -> None:
    noisy = mint(mesh, f"noisy-{uuid.uuid4().hex[:6]}", ["chat"])
    assert commerce_breaker(mesh) == "closed"
    body = {"message": "where is my order?", "agent": "commerce", "timeout_s": MIN_TIMEOUT_S}
    started = time.monotonic()
    with hanging_model(mesh), ThreadPoolExecutor(AT_ONCE) as pool:
        replies = list(pool.map(lambda _: chat(mesh, noisy, body), range(NOISY_TURNS)))
    elapsed = time.monotonic() - started
    assert [r.status_code for r in replies] == [200] * NOISY_TURNS
    # Each ran out of its own time (answered degraded, before its deadline), inside the agent's call.
    contents = [r.json()["content"] for r in replies]
    assert all(r.json()["degraded"] for r in replies) and all("deadline_exceeded" in c for c in contents), contents
    assert elapsed > (NOISY_TURNS / AT_ONCE) * (MIN_TIMEOUT_S - 2), "the turns did run into their deadlines"
    assert commerce_breaker(mesh) == "closed"
    # The LLM layer may cool its model group down when its provider timeout (capped at the same
    # deadline) beats the deadline's cancel: a separate issue of the LLM layer (notes/bulkheads12.md).
    # Waited out here so that this test checks the agent's breaker alone.
    wait_until_callable(mesh)
    quiet = chat(mesh, mesh.api_key, {"message": "where is my order?", "agent": "commerce"})
    assert quiet.status_code == 200, quiet.text
    answer = quiet.json()
    assert answer["fallbacks"] == {} and answer["route"]["agents"] == ["commerce"], answer
    assert not answer["degraded"], answer["content"]


@pytest.mark.parametrize("timeout_s", [0.95, 5e-324, MIN_TIMEOUT_S - 0.01, 300.5])
def test_a_timeout_the_turn_cannot_meet_is_a_422_naming_the_limit(mesh: TestMesh, timeout_s: float) -> None:
    logged = len(mesh.logs()["orchestrator"])
    reply = chat(mesh, mesh.api_key, {"message": "hi", "agent": "general", "timeout_s": timeout_s})
    assert "Traceback" not in mesh.logs()["orchestrator"][logged:], "a refusal is not a crash"
    assert (reply.status_code, reply.headers["content-type"]) == (422, "application/problem+json")
    problem = reply.json()
    assert problem["code"] == "timeout_out_of_range" and problem["retryable"] is False
    assert "timeout_s" in problem["detail"] and "4 to 300s" in problem["detail"]


def test_a_short_deadline_header_from_a_public_caller_is_a_422_too(mesh: TestMesh) -> None:
    soon = {"x-meshline-deadline": f"{time.time() + 1:.3f}"}
    reply = chat(mesh, mesh.api_key, {"message": "hi", "agent": "general"}, soon)
    assert (reply.status_code, reply.json()["code"]) == (422, "timeout_out_of_range")
    assert "X-Meshline-Deadline" in reply.json()["detail"]


def test_the_bounds_themselves_are_accepted(mesh: TestMesh) -> None:
    for timeout_s in (MIN_TIMEOUT_S, 300):
        reply = chat(mesh, mesh.api_key, {"message": "hi", "agent": "general", "timeout_s": timeout_s})
        assert reply.status_code == 200 and not reply.json()["degraded"], reply.text
