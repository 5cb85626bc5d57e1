"""Confirmation through a running mesh: a reply that is not a clear yes goes back to the agent
that asked and runs nothing; a turn that goes to another agent closes the question, so a later
"yes" confirms nothing.

Real processes (orchestrator, agents, commerce tools); the fake provider is scripted to ask for
a refund on the customer's delivered order. Each test is a fresh tenant's customer ``dev`` (one
order in every state), so no other test's refunds are in the way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import meshline
from meshline.testing.mesh import TestMesh
from tests.e2e.test_tool_registration import call_then, script

pytestmark = pytest.mark.e2e
SCRIPTED = ("list_my_orders", "get_order", "issue_refund")


@pytest.fixture
def customer(mesh: TestMesh) -> Iterator[meshline.Client]:
    """A key of a new tenant bound to its customer ``dev``; the scripts are removed afterwards."""
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        key = admin.keys.create(f"confirm-{uuid.uuid4().hex[:8]}", ["chat"], user="dev").key
    try:
        with meshline.Client(mesh.url, key) as client:
            yield client
    finally:
        for tool in SCRIPTED:
            script(mesh, tool, [])


def only(mesh: TestMesh, tool: str, arguments: dict[str, Any]) -> None:
    """From now on the commerce model calls ``tool`` (and no other scripted tool), then relays its result."""
    for other in SCRIPTED:
        script(mesh, other, [])
    script(mesh, tool, call_then(tool, arguments, "Result: {tool_result}"))


def delivered_order(mesh: TestMesh, client: meshline.Client) -> dict[str, Any]:
    only(mesh, "list_my_orders", {"status": "delivered"})
    [call] = client.chat("list my delivered orders", agent="commerce").tool_calls
    order: dict[str, Any] = call.result["orders"][0]
    return order


def refunded_cents(mesh: TestMesh, client: meshline.Client, order_id: str) -> int:
    only(mesh, "get_order", {"order_id": order_id})
    [call] = client.chat(f"show order {order_id}", agent="commerce").tool_calls
    return int(call.result["refunded_cents"])


def ask_refund(mesh: TestMesh, client: meshline.Client, order_id: str) -> meshline.ChatResponse:
    only(mesh, "issue_refund", {"order_id": order_id, "amount_cents": 300, "reason": "scratched"})
    asked = client.chat("refund 3.00 on my order, it arrived scratched", agent="commerce")
    assert [(c.tool, c.status) for c in asked.tool_calls] == [("issue_refund", "pending_confirmation")]
    return asked


def test_an_unclear_reply_is_asked_again_by_the_agent_that_asked(mesh: TestMesh, customer: meshline.Client) -> None:
    order = delivered_order(mesh, customer)
    asked = ask_refund(mesh, customer, order["id"])
    unclear = customer.chat("sure, what's the policy?", thread_id=asked.thread_id)
    assert (unclear.route.agents, unclear.route.method) == (["commerce"], "sticky")
    assert [c.status for c in unclear.tool_calls] == ["pending_confirmation"]
    assert unclear.content.startswith("I need a clear yes or no before I run issue_refund(")

    done = customer.chat("yes", thread_id=asked.thread_id)
    assert (done.route.agents, done.route.method) == (["commerce"], "sticky")
    assert [(c.tool, c.status) for c in done.tool_calls] == [("issue_refund", "ok")]
    assert refunded_cents(mesh, customer, order["id"]) == 300


def test_a_turn_to_another_agent_closes_the_question(mesh: TestMesh, customer: meshline.Client) -> None:
    order = delivered_order(mesh, customer)
    asked = ask_refund(mesh, customer, order["id"])
    elsewhere = customer.chat("hello, what can you do?", thread_id=asked.thread_id, agent="general")
    assert elsewhere.route.agents == ["general"]

    # Even sent to the agent that asked, a later "yes" confirms nothing: the model is asked anew.
    later = customer.chat("yes", thread_id=asked.thread_id, agent="commerce")
    assert [(c.tool, c.status) for c in later.tool_calls] == [("issue_refund", "pending_confirmation")]
    assert later.tool_calls[0].id != asked.tool_calls[0].id
    assert refunded_cents(mesh, customer, order["id"]) == 0
