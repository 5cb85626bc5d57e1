"""The kit serves the same tools over MCP (streamable HTTP at /mcp), with the native contract's rules.

A real commerce tool service (its own SQLite database) is served over real HTTP; the MCP side
is spoken by the mesh's own MCP client (the installed ``mcp`` package underneath).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from meshline.errors import MeshlineError
from meshline.mcp_client import McpToolClient
from meshline.testing.serve import serve_in_thread
from meshline.tools.commerce.app import create_app as create_commerce
from meshline.tools.commerce.settings import CommerceSettings
from tests.tools.tool_tokens import tool_token

Token = Callable[..., str]


@pytest.fixture
async def served(mesh_env: dict[str, str], tmp_path: Path) -> AsyncIterator[str]:
    settings = CommerceSettings(demo_customers=10, database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite'}")
    with serve_in_thread(create_commerce(settings), lifespan="on") as url:
        yield url


@pytest.fixture
async def mcp() -> AsyncIterator[McpToolClient]:
    client = McpToolClient(timeout_s=10)
    yield client
    await client.aclose()


@pytest.fixture
def issue_token(token_keys: tuple[str, str]) -> Token:
    """Tokens for one audience, scope ``tools:call`` (the helper every tool test mints with)."""

    def issue(audience: str = "commerce-tools", tenant: str = "dev", user: str = "dev") -> str:
        return tool_token(token_keys[0], audience, tenant=tenant, user=user)

    return issue


def dev_token(issue_token: Token, user: str = "dev") -> str:
    return issue_token(tenant="dev", user=user)


async def native(url: str, tool: str, args: dict[str, Any], token: str, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}", **({"idempotency-key": key} if key else {})}
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{url}/v1/tools/{tool}", json=args, headers=headers)


async def test_mcp_lists_the_manifest_tools(served: str, mcp: McpToolClient) -> None:
    listing = await mcp.list_tools(f"{served}/mcp")
    async with httpx.AsyncClient() as http:
        manifest = (await http.get(f"{served}/v1/manifest")).json()
    assert listing.server_name == "commerce-tools"
    by_name = {t.name: t for t in listing.tools}
    assert by_name.keys() == {t["name"] for t in manifest["tools"]}
    for spec in manifest["tools"]:
        adapted = by_name[spec["name"]]
        # readOnlyHint round-trips side_effects, so registering /mcp gives the native manifest's flags.
        assert adapted.side_effects is spec["side_effects"]
        assert adapted.input_schema == spec["input_schema"]


async def test_read_tool_answers_like_the_native_contract(served: str, mcp: McpToolClient, issue_token: Token) -> None:
    token = dev_token(issue_token)
    over_mcp = await mcp.call_tool(f"{served}/mcp", "list_my_orders", {"limit": 5}, token=token)
    over_http = (await native(served, "list_my_orders", {"limit": 5}, token)).json()
    assert over_mcp == over_http and len(over_mcp["orders"]) == 5


async def test_customer_comes_from_the_token_only(served: str, mcp: McpToolClient, issue_token: Token) -> None:
    mine = await mcp.call_tool(f"{served}/mcp", "list_my_orders", {"limit": 1}, token=dev_token(issue_token))
    order_id = mine["orders"][0]["id"]
    other = dev_token(issue_token, user="cust-0001")
    with pytest.raises(MeshlineError) as refused:
        await mcp.call_tool(f"{served}/mcp", "get_order", {"order_id": order_id}, token=other)
    assert refused.value.status == 404, "another customer's order does not exist for this token"
    with pytest.raises(MeshlineError) as anonymous:
        await mcp.call_tool(f"{served}/mcp", "get_order", {"order_id": order_id})
    assert anonymous.value.code == "missing_token" and anonymous.value.status == 401


async def test_bad_token_is_refused_at_the_http_level(served: str, issue_token: Token) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as http:
        forged = await http.post(f"{served}/mcp", json=body, headers={**headers, "authorization": "Bearer nope"})
        wrong = await http.post(
            f"{served}/mcp",
            json=body,
            headers={**headers, "authorization": f"Bearer {issue_token('crm')}"},
        )
    assert forged.status_code == 401 and forged.headers["content-type"] == "application/problem+json"
    assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_audience"


async def test_side_effects_need_a_key_and_run_once_per_key(
    served: str, mcp: McpToolClient, issue_token: Token
) -> None:
    url, token = f"{served}/mcp", dev_token(issue_token)
    delivered = (await native(served, "list_my_orders", {"status": "delivered"}, token)).json()["orders"][0]
    refund = {"order_id": delivered["id"], "amount_cents": 100, "reason": "scratched"}
    with pytest.raises(MeshlineError) as keyless:
        await mcp.call_tool(url, "issue_refund", refund, token=token)
    assert keyless.value.code == "idempotency_key_required" and keyless.value.status == 400

    first = await mcp.call_tool(url, "issue_refund", refund, token=token, idempotency_key="mcp-refund-1")
    again = await mcp.call_tool(url, "issue_refund", refund, token=token, idempotency_key="mcp-refund-1")
    assert first == again and first["refunded_total_cents"] == 100, "the repeated key ran nothing"
    # The key space is the native contract's: the same key over HTTP is the same call.
    over_http = await native(served, "issue_refund", refund, token, key="mcp-refund-1")
    assert over_http.json() == first
    with pytest.raises(MeshlineError) as reused:
        other = {**refund, "amount_cents": 200}
        await mcp.call_tool(url, "issue_refund", other, token=token, idempotency_key="mcp-refund-1")
    assert reused.value.status == 409 and reused.value.code == "idempotency_key_reused"


async def test_bad_arguments_and_unknown_tools_are_tool_errors(
    served: str, mcp: McpToolClient, issue_token: Token
) -> None:
    token = dev_token(issue_token)
    with pytest.raises(MeshlineError) as bad:
        await mcp.call_tool(f"{served}/mcp", "get_order", {"order_id": 12}, token=token)
    assert bad.value.status == 422 and bad.value.code == "invalid_arguments"
    with pytest.raises(MeshlineError) as unknown:
        await mcp.call_tool(f"{served}/mcp", "drop_tables", {}, token=token)
    assert unknown.value.status == 404 and unknown.value.code == "unknown_tool"
