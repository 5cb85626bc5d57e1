"""Asking for a human, end to end: the general agent opens a CRM ticket after the customer's yes.

Real processes (orchestrator, general and account agents, CRM tool service); the fake provider
is scripted to call ``open_ticket`` when it is offered. The account agent then finds the ticket
the general agent opened.
"""

from __future__ import annotations

import pytest

import meshline
from meshline.testing.mesh import TestMesh
from tests.e2e.test_tool_registration import call_then, script

pytestmark = pytest.mark.e2e
TICKET = {"subject": "Customer asked for a human", "description": "My blender arrived broken."}


def test_asking_for_a_human_opens_a_crm_ticket_after_yes(mesh: TestMesh) -> None:
    try:
        with meshline.Client(mesh.url, mesh.api_key) as client:
            script(mesh, "open_ticket", call_then("open_ticket", TICKET, "Ticket opened: {tool_result}"))
            asked = client.chat("I want to talk to a human")
            assert asked.route.agents == ["general"]
            assert [(c.tool, c.service, c.status) for c in asked.tool_calls] == [
                ("open_ticket", "crm", "pending_confirmation")
            ]
            assert "Shall I go ahead" in asked.content

            done = client.chat("yes", thread_id=asked.thread_id)
            assert (done.route.agents, done.route.method) == (["general"], "sticky")
            assert [(c.tool, c.status) for c in done.tool_calls] == [("open_ticket", "ok")]
            ticket = done.tool_calls[0].result
            assert ticket["id"].startswith("tkt-") and ticket["subject"] == TICKET["subject"]
            assert done.content.startswith("Ticket opened: ") and ticket["id"] in done.content
            script(mesh, "open_ticket", [])

            # The account agent (all of the CRM's tools) sees the ticket the general agent opened.
            script(mesh, "list_my_tickets", call_then("list_my_tickets", {}, "Tickets: {tool_result}"))
            listed = client.chat("what's the status of my support ticket", agent="account")
            assert ticket["id"] in listed.content
    finally:
        for name in ("open_ticket", "list_my_tickets"):
            script(mesh, name, [])


def test_a_yes_goes_to_the_agent_whose_question_is_open(mesh: TestMesh) -> None:
    """However "yes" alone would route, it answers the account agent's question."""
    update = {"email": "new.address@example.com"}
    try:
        with meshline.Client(mesh.url, mesh.api_key) as client:
            script(mesh, "update_contact_details", call_then("update_contact_details", update, "Done: {tool_result}"))
            asked = client.chat("please change my email to new.address@example.com", agent="account")
            assert [c.status for c in asked.tool_calls] == ["pending_confirmation"]
            done = client.chat("yes please", thread_id=asked.thread_id)
            assert (done.route.agents, done.route.method) == (["account"], "sticky")
            assert [(c.tool, c.status) for c in done.tool_calls] == [("update_contact_details", "ok")]
            assert done.tool_calls[0].result["email"] == update["email"]
            # The question was answered: another "yes" runs nothing (the scripted model may ask again).
            again = client.chat("yes", thread_id=asked.thread_id)
            assert all(c.status == "pending_confirmation" for c in again.tool_calls), again.tool_calls
    finally:
        script(mesh, "update_contact_details", [])
