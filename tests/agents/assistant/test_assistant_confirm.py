"""The agent's side of a confirmation, against the real commerce service: only a clear yes runs
the call, an unclear reply asks again, a new request is answered with the question left open,
and calls of a model that gives no ids never share an idempotency key."""

from __future__ import annotations

from typing import Any

import pytest

from meshline.agents.assistant.tool_catalog import idempotency_key
from tests.agents.assistant.tool_loop_harness import Harness
from tests.meshline.test_confirmation import AMBIGUOUS

ASK = [{"role": "user", "content": "refund 3.00 on my delivered order, it arrived scratched"}]


async def ask_refund(h: Harness, amount_cents: int = 300) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model asks for a refund on dev's delivered order: (the order, the agent's question)."""
    order = (await h.tool("list_my_orders", {"status": "delivered"}))["orders"][0]
    h.llm.replies = [[("issue_refund", {"order_id": order["id"], "amount_cents": amount_cents, "reason": "scratched"})]]
    asked = await h.invoke(ASK)
    assert asked["tool_calls"][0]["status"] == "pending_confirmation"
    return order, asked


def reply(asked: dict[str, Any], text: str) -> list[dict[str, Any]]:
    return [*ASK, {"role": "assistant", "content": asked["content"]}, {"role": "user", "content": text}]


async def refunded(h: Harness, order: dict[str, Any]) -> int:
    return int((await h.tool("get_order", {"order_id": order["id"]}))["refunded_cents"])


@pytest.mark.parametrize("text", AMBIGUOUS)
async def test_an_unclear_reply_asks_again_and_runs_nothing(harness: Harness, text: str) -> None:
    order, asked = await ask_refund(harness)
    pending = asked["pending"]
    calls = len(harness.llm.requests)
    again = await harness.invoke(reply(asked, text), pending=pending)
    assert again["content"].startswith("I need a clear yes or no before I run issue_refund(")
    assert again["pending"] == pending  # still open, unchanged: the orchestrator keeps it
    assert [(c["id"], c["status"]) for c in again["tool_calls"]] == [(pending["id"], "pending_confirmation")]
    assert len(harness.llm.requests) == calls  # no model call, no tool call
    assert await refunded(harness, order) == 0


async def test_a_new_request_is_answered_and_the_question_stays_open(harness: Harness) -> None:
    order, asked = await ask_refund(harness)
    pending = asked["pending"]
    harness.llm.replies = ["We ship within two days."]
    other = await harness.invoke(reply(asked, "how fast do you ship?"), pending=pending)
    assert other["content"].startswith("We ship within two days.\n\n(Still waiting for your answer: shall I run")
    assert "issue_refund(" in other["content"] and other["pending"] == pending
    assert other["tool_calls"] == [] and await refunded(harness, order) == 0

    harness.llm.replies = ["Refunded 3.00."]
    convo = [*reply(asked, "how fast do you ship?"), {"role": "assistant", "content": other["content"]}]
    done = await harness.invoke([*convo, {"role": "user", "content": "yes"}], pending=pending)
    assert done["tool_calls"][0]["status"] == "ok" and done["pending"] is None and done["fallback_for"] is None
    assert await refunded(harness, order) == 300


async def test_calls_without_ids_in_two_turns_make_two_keys_and_two_refunds(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.llm, "call_ids", False)  # tool calls arrive without ids
    ids, effects = [], []
    for _ in range(2):  # two turns of one thread (the harness's thread-7), the same refund asked each time
        order, asked = await ask_refund(harness, 100)
        pending = asked["pending"]
        harness.llm.replies = ["Refunded 1.00."]
        done = await harness.invoke(reply(asked, "yes"), pending=pending)
        ids.append(pending["id"])
        effects.append(done["tool_calls"][0]["result"]["id"])
    assert ids[0] != ids[1] and idempotency_key("thread-7", ids[0]) != idempotency_key("thread-7", ids[1])
    assert effects[0] != effects[1]  # two refunds, not the first one answered twice
    assert await refunded(harness, order) == 200
