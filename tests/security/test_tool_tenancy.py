"""Two tenants with the same customer id are two people: neither reaches the other's tool data.

The bundled CRM and commerce tool services run as their own processes (real HTTP, their own
SQLite files), with demo data for any tenant on its first call (``DEMO_TENANTS=["dev", "*"]``),
so every test takes two fresh tenants, "a" and "b", whose customer ``dev`` exists in both. Calls
go over the native contract and over MCP (the mesh's MCP client on the ``mcp`` SDK); whatever ids
or tenant/customer fields the arguments carry, a foreign object is "not found" and nothing of the
other tenant changes. The services' logs must show no traceback (checked when they stop).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from meshline.errors import MeshlineError
from meshline.mcp_client import McpToolClient
from tests.tools.tool_processes import tool_process
from tests.tools.tool_tokens import tool_headers, tool_token

COMMERCE, CRM = "commerce-tools", "crm"
DEMO = {"DEMO_TENANTS": json.dumps(["dev", "*"])}
# What a model might put in arguments to reach another tenant or customer; the input models ignore them.
SMUGGLED = {"tenant": "dev", "tenant_id": "dev", "customer": "dev", "customer_id": "dev", "user": "dev"}


@dataclass(frozen=True)
class Services:
    urls: dict[str, str]
    private_key: str


@pytest.fixture(scope="module")
def tool_services(tmp_path_factory: pytest.TempPathFactory, token_keys: tuple[str, str]) -> Iterator[Services]:
    home: Path = tmp_path_factory.mktemp("tool-tenancy")
    with (
        tool_process("crm", home, token_keys[1], None, DEMO) as crm,
        tool_process("commerce", home, token_keys[1], None, DEMO) as commerce,
    ):
        yield Services({CRM: crm, COMMERCE: commerce}, token_keys[0])


@pytest.fixture
async def tool_mcp() -> AsyncIterator[McpToolClient]:
    client = McpToolClient(timeout_s=30)
    yield client
    await client.aclose()


@dataclass(frozen=True)
class Tenant:
    """One tenant's customer ``dev``, calling the tool services as the orchestrator would."""

    name: str
    services: Services
    user: str = "dev"

    def token(self, service: str) -> str:
        return tool_token(self.services.private_key, service, tenant=self.name, user=self.user)

    async def call(self, service: str, tool: str, args: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = tool_headers(self.services.private_key, service, key=key, tenant=self.name, user=self.user)
        async with httpx.AsyncClient(base_url=self.services.urls[service], timeout=60) as http:
            return await http.post(f"/v1/tools/{tool}", json=args, headers=headers)

    async def ok(self, service: str, tool: str, args: dict[str, Any], key: str | None = None) -> Any:
        response = await self.call(service, tool, args, key)
        assert response.status_code == 200, (self.name, tool, response.text)
        return response.json()

    async def orders(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = (await self.ok(COMMERCE, "list_my_orders", {"limit": 50}))["orders"]
        return listed

    async def order(self, status: str) -> dict[str, Any]:
        return next(o for o in await self.orders() if o["status"] == status)

    async def mcp(self, client: McpToolClient, service: str, tool: str, args: dict[str, Any], **kw: Any) -> Any:
        return await client.call_tool(f"{self.services.urls[service]}/mcp", tool, args, token=self.token(service), **kw)


@pytest.fixture
def tenants(tool_services: Services) -> tuple[Tenant, Tenant]:
    """Two tenants new to the services (each seeded on its first call), both with a customer ``dev``."""
    run = uuid.uuid4().hex[:8]
    return Tenant(f"shop-a-{run}", tool_services), Tenant(f"shop-b-{run}", tool_services)


def order_calls(order_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every commerce tool that takes an order id, with arguments that would pass for one's own order."""
    return [
        ("get_order", {"order_id": order_id}),
        ("get_invoice", {"order_id": order_id}),
        ("track_shipment", {"order_id": order_id}),
        ("cancel_order", {"order_id": order_id}),
        ("change_shipping_address", {"order_id": order_id, "address": "1 Thief Lane, Nowhere"}),
        ("start_return", {"order_id": order_id, "reason": "not mine"}),
        ("issue_refund", {"order_id": order_id, "amount_cents": 1, "reason": "not mine"}),
    ]


async def test_the_same_customer_id_is_two_people(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    profile_a, profile_b = (await a.ok(CRM, "get_my_profile", {})), (await b.ok(CRM, "get_my_profile", {}))
    assert profile_a["id"] == profile_b["id"] == "dev"
    assert (profile_a["name"], profile_a["email"]) != (profile_b["name"], profile_b["email"])
    orders_a, orders_b = await a.orders(), await b.orders()
    assert orders_a and orders_b
    assert not {o["id"] for o in orders_a} & {o["id"] for o in orders_b}
    catalog_a = await a.ok(COMMERCE, "search_products", {"query": "earbuds"})
    catalog_b = await b.ok(COMMERCE, "search_products", {"query": "earbuds"})
    assert not {p["id"] for p in catalog_a["products"]} & {p["id"] for p in catalog_b["products"]}  # own shop


async def test_another_tenants_order_ids_are_not_found(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    before = await a.orders()
    for order in before:
        for tool, args in order_calls(order["id"]):
            response = await b.call(COMMERCE, tool, {**args, **SMUGGLED}, key=f"steal-{tool}-{order['id']}")
            assert response.status_code == 404, (tool, order["status"], response.text)
            assert response.json()["code"] == "order_not_found"
            assert response.headers["content-type"] == "application/problem+json"
    assert await a.orders() == before  # nothing of a's changed
    product = before[0]["items"][0]["product_id"]
    missing = await b.call(COMMERCE, "get_product", {"product_id": product})
    assert missing.status_code == 404 and missing.json()["code"] == "product_not_found"


async def test_profiles_tickets_addresses_and_refunds_change_only_in_their_tenant(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    profile_a = await a.ok(CRM, "get_my_profile", {})
    await b.ok(CRM, "update_contact_details", {"email": "b@shop-b.example", **SMUGGLED}, key="contact")
    await b.ok(CRM, "set_newsletter_subscription", {"subscribed": not profile_a["newsletter"]}, key="news")
    assert await a.ok(CRM, "get_my_profile", {}) == profile_a

    ticket = await a.ok(CRM, "open_ticket", {"subject": "Private", "description": "a's secret"}, key="t1")
    hijack = await b.call(CRM, "add_ticket_note", {"ticket_id": ticket["id"], "body": "hijack", **SMUGGLED}, key="n1")
    assert hijack.status_code == 404 and hijack.json()["code"] == "ticket_not_found"
    assert ticket["id"] not in {t["id"] for t in (await b.ok(CRM, "list_my_tickets", {}))["tickets"]}
    mine = [t for t in (await a.ok(CRM, "list_my_tickets", {}))["tickets"] if t["id"] == ticket["id"]]
    assert [n["body"] for n in mine[0]["notes"]] == ["a's secret"]

    pending_a, delivered_a = await a.order("pending"), await a.order("delivered")
    pending_b, delivered_b = await b.order("pending"), await b.order("delivered")
    moved = {"order_id": pending_b["id"], "address": "9 B Street, Lyon"}
    await b.ok(COMMERCE, "change_shipping_address", moved, key="addr")
    refund = {"order_id": delivered_b["id"], "amount_cents": delivered_b["total_cents"], "reason": "b's refund"}
    await b.ok(COMMERCE, "issue_refund", refund, key="refund")
    assert await a.order("pending") == pending_a and await a.order("delivered") == delivered_a
    assert (await b.order("pending"))["shipping_address"] == "9 B Street, Lyon"


async def test_idempotency_keys_never_answer_another_tenant(
    tenants: tuple[Tenant, Tenant], tool_mcp: McpToolClient
) -> None:
    a, b = tenants
    args = {"subject": "Same key", "description": "same arguments"}
    first_a = await a.ok(CRM, "open_ticket", args, key="shared-key")
    first_b = await b.ok(CRM, "open_ticket", args, key="shared-key")
    assert first_a["id"] != first_b["id"]  # b's call ran: a's stored result is not b's
    other = await b.call(CRM, "open_ticket", {**args, "description": "other arguments"}, key="shared-key")
    assert other.status_code == 409  # b's own key space: its own first call stands
    assert first_b["id"] not in {t["id"] for t in (await a.ok(CRM, "list_my_tickets", {}))["tickets"]}

    delivered_a, delivered_b = await a.order("delivered"), await b.order("delivered")
    refund_a = await a.mcp(
        tool_mcp, COMMERCE, "issue_refund", {"order_id": delivered_a["id"], "amount_cents": 5, "reason": "x1"},
        idempotency_key="mcp-key",
    )  # fmt: skip
    refund_b = await b.mcp(
        tool_mcp, COMMERCE, "issue_refund", {"order_id": delivered_b["id"], "amount_cents": 7, "reason": "x2"},
        idempotency_key="mcp-key",
    )  # fmt: skip
    assert refund_b["order_id"] == delivered_b["id"] and refund_b["amount_cents"] == 7 != refund_a["amount_cents"]


async def test_mcp_calls_are_scoped_like_native_ones(tenants: tuple[Tenant, Tenant], tool_mcp: McpToolClient) -> None:
    a, b = tenants
    over_mcp = await b.mcp(tool_mcp, COMMERCE, "list_my_orders", {"limit": 50, **SMUGGLED})
    assert over_mcp["orders"] == await b.orders()
    before = await a.orders()
    for order in before[:2]:
        for tool, args in order_calls(order["id"]):
            with pytest.raises(MeshlineError) as refused:
                await b.mcp(tool_mcp, COMMERCE, tool, {**args, **SMUGGLED}, idempotency_key=f"mcp-{tool}")
            assert refused.value.status == 404 and refused.value.code == "order_not_found", tool
    assert await a.orders() == before
    ticket = await a.mcp(
        tool_mcp, CRM, "open_ticket", {"subject": "Over MCP", "description": "a only"}, idempotency_key="mcp-t"
    )
    with pytest.raises(MeshlineError) as hijack:
        await b.mcp(tool_mcp, CRM, "add_ticket_note", {"ticket_id": ticket["id"], "body": "x"}, idempotency_key="n")
    assert hijack.value.status == 404 and hijack.value.code == "ticket_not_found"
    assert (await b.mcp(tool_mcp, CRM, "get_my_profile", {}))["name"] != (await a.ok(CRM, "get_my_profile", {}))["name"]


async def test_a_token_without_the_tools_call_scope_is_refused(tenants: tuple[Tenant, Tenant]) -> None:
    a = tenants[0]
    chat_only = tool_token(a.services.private_key, COMMERCE, tenant=a.name, user="dev", scopes=("chat",))
    async with httpx.AsyncClient(base_url=a.services.urls[COMMERCE], timeout=30) as http:
        native = await http.post("/v1/tools/list_my_orders", json={}, headers={"authorization": f"Bearer {chat_only}"})
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "list_my_orders", "arguments": {}},
        }
        headers = {"authorization": f"Bearer {chat_only}", "accept": "application/json, text/event-stream"}
        over_mcp = await http.post("/mcp", json=body, headers=headers)
    for response in (native, over_mcp):
        assert response.status_code == 403 and response.json()["code"] == "missing_scope"
        assert response.headers["content-type"] == "application/problem+json"
