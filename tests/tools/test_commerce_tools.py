"""Every commerce tool against its real (seeded SQLite) database, for the token's customer only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from meshline.tools.commerce.models import ORDER_STATES

Auth = Callable[..., dict[str, str]]


async def call(http: httpx.AsyncClient, auth: Auth, tool: str, args: dict[str, Any], **kw: Any) -> httpx.Response:
    return await http.post(f"/v1/tools/{tool}", json=args, headers=auth(**kw))


async def dev_order(http: httpx.AsyncClient, auth: Auth, status: str) -> dict[str, Any]:
    response = await call(http, auth, "list_my_orders", {"status": status})
    assert response.status_code == 200, response.text
    orders: list[dict[str, Any]] = response.json()["orders"]
    assert orders, f"dev has no {status} order"
    return orders[0]


async def test_manifest_describes_every_tool(commerce: httpx.AsyncClient) -> None:
    manifest = (await commerce.get("/v1/manifest")).json()
    assert manifest["kind"] == "tool" and manifest["name"] == "commerce-tools"
    tools = {t["name"]: t for t in manifest["tools"]}
    assert len(tools) == 10
    assert tools["issue_refund"]["side_effects"] is True and tools["get_order"]["side_effects"] is False
    assert "amount_cents" in tools["issue_refund"]["input_schema"]["properties"]
    assert tools["search_products"]["description"].startswith("Search the catalog")


async def test_read_tools(commerce: httpx.AsyncClient, auth: Auth) -> None:
    found = (await call(commerce, auth, "search_products", {"query": "earbuds"})).json()["products"]
    assert found and all("Earbuds" in p["name"] for p in found)
    product = (await call(commerce, auth, "get_product", {"product_id": found[0]["id"]})).json()
    assert product["price_cents"] == found[0]["price_cents"]
    orders = (await call(commerce, auth, "list_my_orders", {"limit": 50})).json()["orders"]
    assert {o["status"] for o in orders} == set(ORDER_STATES)  # dev has one order in every state
    shipped = await dev_order(commerce, auth, "shipped")
    tracking = (await call(commerce, auth, "track_shipment", {"order_id": shipped["id"]})).json()
    assert tracking["tracking_number"].startswith("TRK") and tracking["status"] == "in_transit"
    invoice = (await call(commerce, auth, "get_invoice", {"order_id": shipped["id"]})).json()
    assert invoice["amount_cents"] == shipped["total_cents"]
    pending = await dev_order(commerce, auth, "pending")
    not_shipped = await call(commerce, auth, "track_shipment", {"order_id": pending["id"]})
    assert not_shipped.status_code == 404 and not_shipped.json()["code"] == "not_shipped"


async def test_cancel_and_redirect_only_pending_orders(commerce: httpx.AsyncClient, auth: Auth) -> None:
    pending = await dev_order(commerce, auth, "pending")
    moved = await call(
        commerce, auth, "change_shipping_address", {"order_id": pending["id"], "address": "9 New Rd, Lyon"}, key="a1"
    )
    assert moved.json()["shipping_address"] == "9 New Rd, Lyon"
    cancelled = await call(commerce, auth, "cancel_order", {"order_id": pending["id"]}, key="c1")
    assert cancelled.json()["status"] == "cancelled"
    again = await call(commerce, auth, "cancel_order", {"order_id": pending["id"]}, key="c2")
    assert again.status_code == 409 and again.json()["code"] == "not_cancellable"


async def test_return_and_refund_bounded_by_total(commerce: httpx.AsyncClient, auth: Auth) -> None:
    delivered = await dev_order(commerce, auth, "delivered")
    ret = await call(commerce, auth, "start_return", {"order_id": delivered["id"], "reason": "too small"}, key="r1")
    assert ret.status_code == 200 and ret.json()["status"] == "requested"
    total = delivered["total_cents"]
    first = await call(
        commerce,
        auth,
        "issue_refund",
        {"order_id": delivered["id"], "amount_cents": total - 100, "reason": "x1"},
        key="f1",
    )
    assert first.json()["refunded_total_cents"] == total - 100
    too_much = await call(
        commerce, auth, "issue_refund", {"order_id": delivered["id"], "amount_cents": 101, "reason": "x2"}, key="f2"
    )
    assert too_much.status_code == 409 and too_much.json()["code"] == "refund_exceeds_total"
    rest = await call(
        commerce, auth, "issue_refund", {"order_id": delivered["id"], "amount_cents": 100, "reason": "x3"}, key="f3"
    )
    assert rest.json()["refunded_total_cents"] == total
    order = (await call(commerce, auth, "get_order", {"order_id": delivered["id"]})).json()
    assert order["refunded_cents"] == total


@pytest.mark.parametrize("status", ["pending", "shipped", "cancelled"])
async def test_only_delivered_or_returned_orders_are_refunded(
    commerce: httpx.AsyncClient, auth: Auth, status: str
) -> None:
    order = await dev_order(commerce, auth, status)
    refused = await call(
        commerce, auth, "issue_refund", {"order_id": order["id"], "amount_cents": 1, "reason": "broken"}, key="p1"
    )
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "not_refundable"
    assert f"is {status}" in problem["detail"] and "only delivered or returned orders" in problem["detail"]
    assert (await call(commerce, auth, "get_order", {"order_id": order["id"]})).json()["refunded_cents"] == 0


async def test_a_refund_is_at_most_what_remains_and_says_so(commerce: httpx.AsyncClient, auth: Auth) -> None:
    returned = await dev_order(commerce, auth, "returned")  # seeded refunded in full when it came back
    assert returned["refunded_cents"] == returned["total_cents"]
    more = await call(
        commerce, auth, "issue_refund", {"order_id": returned["id"], "amount_cents": 1, "reason": "again"}, key="m1"
    )
    assert more.status_code == 409 and more.json()["code"] == "refund_exceeds_total"  # its status passed
    assert "at most 0 cents" in more.json()["detail"]


@pytest.mark.parametrize("reason", [None, "", "   ", " x ", "x" * 501])
async def test_a_refund_needs_a_reason(commerce: httpx.AsyncClient, auth: Auth, reason: str | None) -> None:
    order = await dev_order(commerce, auth, "delivered")
    args: dict[str, Any] = {"order_id": order["id"], "amount_cents": 100}
    if reason is not None:
        args["reason"] = reason
    refused = await call(commerce, auth, "issue_refund", args, key="no-reason")
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert "reason" in refused.json()["detail"]
    assert (await call(commerce, auth, "get_order", {"order_id": order["id"]})).json()["refunded_cents"] == 0
    kept = await call(commerce, auth, "issue_refund", {**args, "reason": "  arrived broken  "}, key="reason")
    assert kept.status_code == 200 and kept.json()["reason"] == "arrived broken"


async def test_idempotency_key_replays_the_first_result(commerce: httpx.AsyncClient, auth: Auth) -> None:
    order = await dev_order(commerce, auth, "delivered")
    args = {"order_id": order["id"], "amount_cents": 100, "reason": "late"}
    first = await call(commerce, auth, "issue_refund", args, key="same")
    second = await call(commerce, auth, "issue_refund", args, key="same")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()  # the same refund id: it ran once
    after = (await call(commerce, auth, "get_order", {"order_id": order["id"]})).json()
    assert after["refunded_cents"] == 100
    reused = await call(commerce, auth, "issue_refund", {**args, "amount_cents": 200}, key="same")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


async def test_side_effects_need_a_key_and_bad_input_is_422(commerce: httpx.AsyncClient, auth: Auth) -> None:
    order = await dev_order(commerce, auth, "shipped")
    no_key = await call(commerce, auth, "issue_refund", {"order_id": order["id"], "amount_cents": 1, "reason": "x1"})
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency_key_required"
    bad = await call(
        commerce, auth, "issue_refund", {"order_id": order["id"], "amount_cents": -5, "reason": "x1"}, key="k"
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert "amount_cents" in bad.json()["detail"]
    unknown = await call(commerce, auth, "drop_tables", {})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_tool"
    assert (await call(commerce, auth, "get_order", {"order_id": order["id"]})).json()["refunded_cents"] == 0


async def test_auth_is_required_and_audience_checked(commerce: httpx.AsyncClient, auth: Auth) -> None:
    anonymous = await commerce.post("/v1/tools/list_my_orders", json={})
    assert anonymous.status_code == 401
    wrong = await commerce.post("/v1/tools/list_my_orders", json={}, headers=auth(audience="crm"))
    assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_audience"


async def test_another_customers_order_is_not_found(commerce: httpx.AsyncClient, auth: Auth) -> None:
    other: list[dict[str, Any]] = []
    for n in range(1, 10):  # the first generated customer that has orders
        other = (await call(commerce, auth, "list_my_orders", {"limit": 50}, user=f"cust-{n:04d}")).json()["orders"]
        if other:
            owner = f"cust-{n:04d}"
            break
    assert other
    target = other[0]["id"]
    for tool, args in (
        ("get_order", {"order_id": target}),
        ("get_invoice", {"order_id": target}),
        ("track_shipment", {"order_id": target}),
        ("cancel_order", {"order_id": target}),
        ("issue_refund", {"order_id": target, "amount_cents": 1, "reason": "mine now"}),
    ):
        response = await call(commerce, auth, tool, args, key="steal")
        assert response.status_code == 404, (tool, response.text)
        assert response.json()["code"] == "order_not_found"
    assert (await call(commerce, auth, "get_order", {"order_id": target}, user=owner)).json()["refunded_cents"] == 0
    dev_ids = {o["id"] for o in (await call(commerce, auth, "list_my_orders", {"limit": 50})).json()["orders"]}
    assert target not in dev_ids
