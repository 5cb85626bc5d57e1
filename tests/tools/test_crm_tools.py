"""Every CRM tool against its real database, bound to the token's customer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

Auth = Callable[..., dict[str, str]]


async def call(http: httpx.AsyncClient, auth: Auth, tool: str, args: dict[str, Any], **kw: Any) -> httpx.Response:
    return await http.post(f"/v1/tools/{tool}", json=args, headers=auth(**kw))


async def test_profile_contact_and_newsletter(crm: httpx.AsyncClient, auth: Auth) -> None:
    profile = (await call(crm, auth, "get_my_profile", {})).json()
    assert profile["id"] == "dev" and profile["email"] == "dev@example.com"
    updated = await call(crm, auth, "update_contact_details", {"email": "new@example.org"}, key="u1")
    assert updated.json()["email"] == "new@example.org"
    bad = await call(crm, auth, "update_contact_details", {"email": "not-an-email"}, key="u2")
    assert bad.status_code == 422
    sub = await call(crm, auth, "set_newsletter_subscription", {"subscribed": not profile["newsletter"]}, key="n1")
    assert sub.json()["newsletter"] is (not profile["newsletter"])
    other = (await call(crm, auth, "get_my_profile", {}, user="cust-0001")).json()
    assert other["id"] == "cust-0001" and other["email"] != "new@example.org"


async def test_tickets(crm: httpx.AsyncClient, auth: Auth) -> None:
    before = (await call(crm, auth, "list_my_tickets", {})).json()["tickets"]
    opened = (
        await call(crm, auth, "open_ticket", {"subject": "Broken lid", "description": "The lid cracked."}, key="t1")
    ).json()
    assert opened["status"] == "open" and opened["notes"][0]["body"] == "The lid cracked."
    noted = (
        await call(crm, auth, "add_ticket_note", {"ticket_id": opened["id"], "body": "Photo attached"}, key="t2")
    ).json()
    assert [n["body"] for n in noted["notes"]] == ["The lid cracked.", "Photo attached"]
    after = (await call(crm, auth, "list_my_tickets", {})).json()["tickets"]
    assert len(after) == len(before) + 1


async def test_cannot_touch_another_customers_ticket(crm: httpx.AsyncClient, auth: Auth) -> None:
    theirs = (
        await call(crm, auth, "open_ticket", {"subject": "Private", "description": "secret"}, key="x", user="cust-0003")
    ).json()
    response = await call(crm, auth, "add_ticket_note", {"ticket_id": theirs["id"], "body": "hijack"}, key="y")
    assert response.status_code == 404 and response.json()["code"] == "ticket_not_found"
    mine = (await call(crm, auth, "list_my_tickets", {})).json()["tickets"]
    assert theirs["id"] not in {t["id"] for t in mine}
    unchanged = (await call(crm, auth, "list_my_tickets", {}, user="cust-0003")).json()["tickets"]
    assert [n["body"] for t in unchanged if t["id"] == theirs["id"] for n in t["notes"]] == ["secret"]
