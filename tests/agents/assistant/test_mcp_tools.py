"""The assistant calls tools of MCP tool services over MCP: chosen by the binding's protocol.

The MCP servers are real and on real HTTP (the gift-card example, and a kit service's /mcp
endpoint); only the LLM layer is stood in for (respx, scripted to emit tool calls).
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI

from meshline.agents.assistant.app import create_app as create_agent
from meshline.agents.assistant.settings import AssistantSettings
from meshline.contracts.agent import PendingCall
from meshline.testing.scripted_model import ScriptedModel
from meshline.testing.serve import serve_in_thread
from meshline.tools.commerce.app import create_app as create_commerce
from meshline.tools.commerce.settings import CommerceSettings
from tests.agents.assistant.llm_standin import COMPLETIONS, LLM_URL

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mcp_giftcards" / "server.py"


@pytest.fixture
def giftcards_url() -> Iterator[str]:
    spec = importlib.util.spec_from_file_location("mcp_giftcards_server", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with serve_in_thread(module.create_server().streamable_http_app(), lifespan="on") as base:
        yield f"{base}/mcp"


@pytest.fixture
async def agent(
    mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, ScriptedModel]]:
    monkeypatch.setenv("MESHLINE_LLM_URL", LLM_URL)
    app: FastAPI = create_agent(AssistantSettings(profile="commerce"))
    llm = ScriptedModel()
    async with app.router.lifespan_context(app):
        with respx.mock(assert_all_called=False) as router:  # httpx only: MCP rides httpx2 to the real servers
            router.get(f"{LLM_URL}/healthz").respond(200, json={"status": "ok"})
            router.post(f"{LLM_URL}{COMPLETIONS}").mock(side_effect=llm)
            router.route(host="127.0.0.1").pass_through()  # the real tool services
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent.test") as http:
                yield http, llm


Mint = Callable[[str], str]  # audience -> a token for it, for one user


def minter(issue_token: Callable[..., str], user: str) -> Mint:
    """Tokens as the orchestrator mints them per turn: one per audience, for ``user`` of tenant dev."""
    return lambda audience: issue_token(audience=audience, tenant="dev", user=user)


async def invoke(
    http: httpx.AsyncClient,
    mint: Mint,
    binding: dict[str, str],
    text: str,
    thread: str = "thread-mcp",
    pending: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = {
        "task_id": "t1",
        "thread_id": thread,
        "messages": [{"role": "user", "content": text}],
        "tools": [{**binding, "token": mint(binding["service"])}],
        "tokens": {"llm": mint("llm")},
        "pending": pending,
    }
    response = await http.post("/v1/invoke", json=body, headers={"authorization": f"Bearer {mint('commerce')}"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_read_only_mcp_tool_runs_and_side_effects_wait_for_yes(
    agent: tuple[httpx.AsyncClient, ScriptedModel], giftcards_url: str, issue_token: Callable[..., str]
) -> None:
    http, llm = agent
    token = minter(issue_token, "dev")
    binding = {"service": "gift-cards", "url": giftcards_url, "protocol": "mcp"}

    llm.replies = [[("check_balance", {"code": "GIFT-1000"})], "You have 50.00 left."]
    read = await invoke(http, token, binding, "balance of GIFT-1000?")
    assert read["content"] == "You have 50.00 left."
    call = read["tool_calls"][0]
    assert (call["tool"], call["service"], call["status"]) == ("check_balance", "gift-cards", "ok")
    assert call["result"] == {"code": "GIFT-1000", "balance_cents": 5000}
    offered = {t["function"]["name"] for t in llm.requests[0]["tools"]}
    assert offered == {"check_balance", "redeem"}, "the MCP server's tools, offered as OpenAI functions"
    assert "5000" in llm.requests[1]["messages"][-1]["content"], "the model saw the tool's answer"

    llm.requests.clear()
    llm.replies = [[("redeem", {"code": "GIFT-1000", "amount_cents": 1200})], "Done: 38.00 left."]
    asked = await invoke(http, token, binding, "use 12.00 of GIFT-1000")
    assert asked["tool_calls"][0]["status"] == "pending_confirmation", "no readOnlyHint: confirm first"
    pending = PendingCall.model_validate(asked["pending"])

    llm.requests.clear()
    llm.replies = ["Done: 38.00 left."]
    done = await invoke(http, token, binding, "yes", pending=pending.model_dump())
    assert done["tool_calls"][0]["status"] == "ok" and done["tool_calls"][0]["result"]["balance_cents"] == 3800

    llm.requests.clear()
    llm.replies = [[("check_balance", {"code": "GIFT-0"})], "That card does not exist."]
    failed = await invoke(http, token, binding, "balance of GIFT-0?")
    assert failed["tool_calls"][0]["status"] == "error" and "GIFT-0" in failed["tool_calls"][0]["error"]


async def test_kit_tools_over_mcp_keep_customer_and_idempotency(
    agent: tuple[httpx.AsyncClient, ScriptedModel], mesh_env: dict[str, str], issue_token: Callable[..., str]
) -> None:
    http, llm = agent
    commerce = create_commerce(CommerceSettings(demo_customers=10))
    with serve_in_thread(commerce, lifespan="on") as base:
        token = minter(issue_token, "dev")
        binding = {"service": "commerce-tools", "url": f"{base}/mcp", "protocol": "mcp"}
        async with httpx.AsyncClient(timeout=10) as direct:
            listed = await direct.post(
                f"{base}/v1/tools/list_my_orders",
                json={"status": "delivered"},
                headers={"authorization": f"Bearer {token('commerce-tools')}"},
            )
        order = listed.json()["orders"][0]
        refund = {"order_id": order["id"], "amount_cents": 300, "reason": "late"}
        llm.replies = [[("issue_refund", refund)]]
        asked = await invoke(http, token, binding, "refund 3.00", thread="thread-refund")
        pending = asked["pending"]

        # A replayed "yes" (say, after a crash) reuses the thread's key: the kit answers the stored refund.
        results = []
        for _ in range(2):
            llm.replies = ["Refunded."]
            done = await invoke(http, token, binding, "yes", thread="thread-refund", pending=pending)
            results.append(done["tool_calls"][0]["result"])
        assert results[0] == results[1] and results[0]["refunded_total_cents"] == 300

        other = minter(issue_token, "cust-0001")
        llm.requests.clear()
        llm.replies = [[("get_order", {"order_id": order["id"]})], "Not found."]
        theirs = await invoke(http, other, binding, f"show order {order['id']}", thread="thread-other")
        assert theirs["tool_calls"][0]["status"] == "error" and "not" in theirs["tool_calls"][0]["error"]
