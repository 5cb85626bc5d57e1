"""The assistant's tool loop against a real commerce service: multi-step, errors, step limit,
confirmation of side effects, idempotent execution and customer isolation."""

from __future__ import annotations

from typing import Any

from tests.agents.assistant.tool_loop_harness import Harness

ASK = [{"role": "user", "content": "refund 5.00 on my delivered order"}]


async def dev_order(h: Harness, status: str) -> dict[str, Any]:
    orders: list[dict[str, Any]] = (await h.tool("list_my_orders", {"status": status}))["orders"]
    return orders[0]


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def test_multi_step_tool_loop(harness: Harness) -> None:
    order = await dev_order(harness, "shipped")
    harness.llm.replies = [
        [("list_my_orders", {"status": "shipped"})],
        [("track_shipment", {"order_id": order["id"]})],
        "Your order is on its way.",
    ]
    result = await harness.invoke([{"role": "user", "content": "where is my parcel?"}])
    assert result["content"] == "Your order is on its way."
    assert [(c["tool"], c["status"]) for c in result["tool_calls"]] == [
        ("list_my_orders", "ok"),
        ("track_shipment", "ok"),
    ]
    assert result["tool_calls"][1]["result"]["order_id"] == order["id"]
    offered = {t["function"]["name"] for t in harness.llm.requests[0]["tools"]}
    assert {"issue_refund", "get_order", "search_products"} <= offered
    last = harness.llm.requests[-1]
    assert order["id"] in tool_messages(last)[0]["content"]  # the model saw the first result
    assert len(tool_messages(last)) == 2 and result["usage"]["total_tokens"] > 0


async def test_tool_error_goes_back_to_the_model(harness: Harness) -> None:
    harness.llm.replies = [[("get_order", {"order_id": "ord-99999"})], "I could not find that order."]
    result = await harness.invoke([{"role": "user", "content": "what's in order ord-99999?"}])
    call = result["tool_calls"][0]
    assert call["status"] == "error" and "order_not_found" in call["error"]
    assert "order_not_found" in tool_messages(harness.llm.requests[1])[0]["content"]
    assert result["content"] == "I could not find that order."


async def test_unknown_tool_and_bad_arguments_are_tool_errors(harness: Harness) -> None:
    harness.llm.replies = [[("delete_everything", {}), ("get_order", {"order_id": ""})], "Sorry."]
    result = await harness.invoke([{"role": "user", "content": "hmm"}])
    errors = [c["error"] for c in result["tool_calls"]]
    assert "no tool named" in errors[0] and "invalid_arguments" in errors[1]


async def test_step_limit_ends_the_loop(harness: Harness) -> None:
    harness.llm.replies = [[("search_products", {"query": "mug"})]]
    result = await harness.invoke([{"role": "user", "content": "find mugs forever"}])
    assert len(harness.llm.requests) == 6  # the commerce profile's max_steps
    assert "within 6 steps" in result["content"] and len(result["tool_calls"]) == 6


async def test_refund_asks_then_yes_executes_exactly_once(harness: Harness) -> None:
    order = await dev_order(harness, "delivered")
    args = {"order_id": order["id"], "amount_cents": 500, "reason": "late delivery"}
    harness.llm.replies = [[("issue_refund", args)]]
    asked = await harness.invoke(ASK)
    assert asked["tool_calls"][0]["status"] == "pending_confirmation"
    assert "issue_refund" in asked["content"] and "yes" in asked["content"]
    pending = asked["pending"]
    assert pending["arguments"] == args
    assert (await harness.tool("get_order", {"order_id": order["id"]}))["refunded_cents"] == 0

    harness.llm.replies = ["Done: 5.00 refunded."]
    convo = [*ASK, {"role": "assistant", "content": asked["content"]}, {"role": "user", "content": "yes"}]
    done = await harness.invoke(convo, pending=pending)
    assert done["tool_calls"][0]["status"] == "ok" and done["pending"] is None and done["fallback_for"] is None
    assert done["content"] == "Done: 5.00 refunded."
    # A crash before the orchestrator cleared the pending call: the same "yes" is replayed.
    again = await harness.invoke(convo, pending=pending)
    assert again["tool_calls"][0]["result"] == done["tool_calls"][0]["result"]
    assert (await harness.tool("get_order", {"order_id": order["id"]}))["refunded_cents"] == 500


async def test_refund_asks_then_no_changes_nothing(harness: Harness) -> None:
    order = await dev_order(harness, "delivered")
    harness.llm.replies = [[("issue_refund", {"order_id": order["id"], "amount_cents": 100, "reason": "meh"})]]
    asked = await harness.invoke(ASK)
    requests_before = len(harness.llm.requests)
    convo = [*ASK, {"role": "assistant", "content": asked["content"]}, {"role": "user", "content": "no, cancel"}]
    declined = await harness.invoke(convo, pending=asked["pending"])
    assert (
        "nothing was changed" in declined["content"]
        and declined["pending"] is None
        and declined["fallback_for"] is None
    )
    assert declined["tool_calls"][0]["error"] == "cancelled by the user"
    assert len(harness.llm.requests) == requests_before  # no model call, no tool call
    assert (await harness.tool("get_order", {"order_id": order["id"]}))["refunded_cents"] == 0


async def test_model_cannot_reach_another_customers_order(harness: Harness) -> None:
    theirs = []
    for n in range(1, 10):
        theirs = (await harness.tool("list_my_orders", {"limit": 50}, user=f"cust-{n:04d}"))["orders"]
        if theirs:
            break
    target = theirs[0]["id"]
    harness.llm.replies = [[("get_order", {"order_id": target})], "Not found."]
    result = await harness.invoke([{"role": "user", "content": f"show order {target}"}])
    call = result["tool_calls"][0]
    assert call["status"] == "error" and "order_not_found" in call["error"] and call["result"] is None
    assert "total_cents" not in tool_messages(harness.llm.requests[1])[0]["content"]  # none of their data
