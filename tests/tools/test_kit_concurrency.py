"""Concurrent writes to a kit service (the CRM, its own process, real HTTP) each take effect exactly once.

SQLite (the default) and, when ``DATABASE_URL`` names a PostgreSQL server (CI sets it), Postgres.
Before the kit made SQLite writers take turns, 16 concurrent writes starved some of them into
"database is locked" 500s (after SQLite's 5 s busy wait); with a 1 ms busy wait the same happened
in every run of this test.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from meshline.testing.asgi import asgi_client
from meshline.tools.crm.app import create_app as create_crm
from meshline.tools.crm.settings import CRMSettings
from tests.tools.tool_processes import DATABASE_URL, serving

CONCURRENCY = 16
WRITES = 160
Auth = Callable[..., dict[str, str]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not DATABASE_URL:
        pytest.skip("set DATABASE_URL to a PostgreSQL server")
    return str(request.param)


async def bounded(calls: list[Callable[[], Awaitable[httpx.Response]]]) -> list[httpx.Response]:
    """Run ``calls`` with at most CONCURRENCY in flight, in order of the list."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


def failures(responses: list[httpx.Response]) -> list[str]:
    return [f"{r.status_code} {r.text[:300]}" for r in responses if r.status_code != 200]


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64))


async def test_concurrent_writes_each_take_effect_once(
    backend: str, tmp_path: Path, token_keys: tuple[str, str], auth: Auth
) -> None:
    with serving("crm", backend, tmp_path, token_keys[1]) as url:
        async with client(url) as http:
            await concurrent_crm_writes(http, auth)


async def concurrent_crm_writes(http: httpx.AsyncClient, auth: Auth) -> None:
    """Distinct keys, one key many times at once, and one key with other arguments, all at concurrency 16."""

    def post(tool: str, args: dict[str, Any], key: str) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: http.post(f"/v1/tools/{tool}", json=args, headers=auth(key=key))

    opened = await post("open_ticket", {"subject": "Load", "description": "first note"}, "open-1")()
    assert opened.status_code == 200, opened.text
    ticket = opened.json()["id"]

    # Distinct keys: every call is a write of its own, and all of them land.
    notes = [post("add_ticket_note", {"ticket_id": ticket, "body": f"note {i}"}, f"note-{i}") for i in range(WRITES)]
    responses = await bounded(notes)
    assert failures(responses) == []
    final = await post("add_ticket_note", {"ticket_id": ticket, "body": "last"}, "note-last")()
    bodies = [n["body"] for n in final.json()["notes"]]
    assert sorted(bodies) == sorted(["first note", "last", *(f"note {i}" for i in range(WRITES))])

    # The same key, many times at once, mixed with other writes: one ticket, every caller gets it.
    same = [post("open_ticket", {"subject": "Once", "description": "only once"}, "same-key")] * CONCURRENCY
    others = [post("add_ticket_note", {"ticket_id": ticket, "body": f"more {i}"}, f"more-{i}") for i in range(16)]
    responses = await bounded([call for pair in zip(same, others, strict=True) for call in pair])
    assert failures(responses) == []
    ids = {r.json()["id"] for r in responses if r.json().get("subject") == "Once"}
    assert len(ids) == 1
    tickets = (await http.post("/v1/tools/list_my_tickets", json={}, headers=auth())).json()["tickets"]
    assert [t["id"] for t in tickets if t["subject"] == "Once"] == list(ids)

    # The same key with other arguments at the same time: one runs, the rest are told it was used.
    reused = [
        post("open_ticket", {"subject": "Twice", "description": f"variant {i}"}, "reused-key")
        for i in range(CONCURRENCY)
    ]
    responses = await bounded(reused)
    assert sorted(r.status_code for r in responses) == [200] + [409] * (CONCURRENCY - 1)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"idempotency_key_reused"}


async def test_concurrent_refunds_never_exceed_the_order_total(
    backend: str, tmp_path: Path, token_keys: tuple[str, str], auth: Auth
) -> None:
    """A check-then-act tool: each refund reads what was refunded before; racing ones must not all pass."""
    with serving("commerce", backend, tmp_path, token_keys[1]) as url:
        async with client(url) as http:
            headers = auth(audience="commerce-tools")
            orders = await http.post("/v1/tools/list_my_orders", json={"status": "delivered"}, headers=headers)
            order = orders.json()["orders"][0]
            remaining = order["total_cents"] - order["refunded_cents"]
            amount = remaining // 4
            assert amount > 0

            def refund(i: int) -> Callable[[], Awaitable[httpx.Response]]:
                args = {"order_id": order["id"], "amount_cents": amount, "reason": f"race {i}"}
                return lambda: http.post(
                    "/v1/tools/issue_refund", json=args, headers=auth(key=f"refund-{i}", audience="commerce-tools")
                )

            responses = await bounded([refund(i) for i in range(CONCURRENCY)])
            assert sorted(r.status_code for r in responses) == [200] * 4 + [409] * (CONCURRENCY - 4)
            assert {r.json()["code"] for r in responses if r.status_code == 409} == {"refund_exceeds_total"}
            after = await http.post("/v1/tools/get_order", json={"order_id": order["id"]}, headers=headers)
            assert after.json()["refunded_cents"] == order["refunded_cents"] + 4 * amount


async def test_a_write_blocked_by_another_process_is_a_retryable_503(mesh_env: dict[str, str], auth: Auth) -> None:
    settings = CRMSettings(demo_customers=5, sqlite_busy_timeout_ms=200)
    app = create_crm(settings)
    path = settings.resolved_database_url().removeprefix("sqlite+aiosqlite:///")
    async with asgi_client(app, "http://crm.test") as http:
        args = {"subject": "Blocked", "description": "wait"}
        other = sqlite3.connect(path, isolation_level=None)  # another process's writer, holding the file
        other.execute("BEGIN IMMEDIATE")
        try:
            read = await http.post("/v1/tools/get_my_profile", json={}, headers=auth())
            assert read.status_code == 200  # WAL: readers are not blocked by a writer
            blocked = await http.post("/v1/tools/open_ticket", json=args, headers=auth(key="blocked"))
            assert blocked.status_code == 503, blocked.text
            assert blocked.json()["code"] == "database_busy" and blocked.json()["retryable"] is True
        finally:
            other.execute("ROLLBACK")
            other.close()
        retried = await http.post("/v1/tools/open_ticket", json=args, headers=auth(key="blocked"))
        assert retried.status_code == 200 and retried.json()["subject"] == "Blocked"
