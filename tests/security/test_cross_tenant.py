"""Two tenants with the same customer id, through a running mesh: neither reaches the other's data
by any field of any request.

Tenant `dev` (the mesh's own key, customer `dev`) and a second tenant whose backend key acts as
customer `dev` too (``act_as_user``): the chat body's ``user``, OpenAI's ``user``, tool arguments
the (scripted) model makes up with the other tenant's ids, thread ids, job ids, collection and
document names, and the usage report's ``tenant`` parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

import meshline
from meshline.sdk.errors import MeshlineAPIError
from meshline.testing.mesh import TestMesh
from meshline.testing.wait import wait_until_sync
from tests.e2e.test_tool_registration import call_then, script
from tests.security.test_identity import prompts_mentioning, recalled_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rival(mesh: TestMesh) -> str:
    """A backend key of another tenant, allowed to act for its own end users (one of them is `dev`)."""
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        return admin.keys.create(f"rival-{uuid.uuid4().hex[:6]}", ["chat", "ingest", "act_as_user"]).key


@pytest.fixture
def scripted(mesh: TestMesh) -> Iterator[Any]:
    used: list[str] = []

    def make(tool: str, arguments: dict[str, Any]) -> None:
        """From now on the model calls ``tool`` with ``arguments`` (and no earlier scripted tool)."""
        for earlier in used:
            script(mesh, earlier, [])
        used.append(tool)
        script(mesh, tool, call_then(tool, arguments, "Result: {tool_result}"))

    yield make
    for tool in used:
        script(mesh, tool, [])


def tool_result(response: meshline.ChatResponse) -> Any:
    [call] = response.tool_calls
    return call.result if call.status == "ok" else {"error": call.error}


def not_found(result: Any) -> bool:
    """A tool's "not found" answer (``order_not_found: ...``), which is all another tenant's id gets."""
    return isinstance(result, dict) and "_not_found" in str(result.get("error", ""))


def test_the_same_customer_id_in_two_tenants_is_two_people(mesh: TestMesh, rival: str, scripted: Any) -> None:
    scripted("get_my_profile", {})
    with meshline.Client(mesh.url, mesh.api_key) as dev, meshline.Client(mesh.url, rival) as other:
        mine = tool_result(dev.chat("show my profile", agent="account"))
        theirs = tool_result(other.chat("show my profile", agent="account", user="dev"))
    assert mine["name"] == "Dev Tester"
    assert theirs["name"] != mine["name"] and theirs["email"] != mine["email"]


def test_the_openai_user_field_stays_in_the_keys_tenant(mesh: TestMesh, rival: str, scripted: Any) -> None:
    scripted("get_my_profile", {})
    client = openai.OpenAI(base_url=f"{mesh.url}/v1", api_key=rival, max_retries=0)
    answer = client.chat.completions.create(
        model="meshline/account", messages=[{"role": "user", "content": "my profile?"}], user="dev"
    )
    assert "Dev Tester" not in (answer.choices[0].message.content or "")


def test_the_other_tenants_ids_in_tool_arguments_are_not_found(mesh: TestMesh, rival: str, scripted: Any) -> None:
    with meshline.Client(mesh.url, mesh.api_key) as dev:
        scripted("list_my_orders", {})
        orders = tool_result(dev.chat("list my orders", agent="commerce"))["orders"]
        scripted("list_my_tickets", {})
        tickets = tool_result(dev.chat("list my tickets", agent="account"))["tickets"]
    order_id = orders[0]["id"]
    with meshline.Client(mesh.url, rival) as other:
        scripted("get_order", {"order_id": order_id, "tenant": "dev", "customer_id": "dev"})
        got = tool_result(other.chat(f"show order {order_id}", agent="commerce", user="dev"))
        assert not_found(got), (order_id, got)
        if tickets:  # a note on the other tenant's ticket: asked, confirmed, and "not found"
            scripted("add_ticket_note", {"ticket_id": tickets[0]["id"], "body": "mine now"})
            asked = other.chat("add a note to that ticket", agent="account", user="dev")
            done = other.chat("yes", thread_id=asked.thread_id, agent="account", user="dev")
            assert not_found(tool_result(done)), tool_result(done)
        # A side effect on the other tenant's order: asked, confirmed, and still "not found".
        scripted("cancel_order", {"order_id": order_id})
        asked = other.chat(f"cancel order {order_id}", agent="commerce", user="dev")
        done = other.chat("yes", thread_id=asked.thread_id, agent="commerce", user="dev")
        assert not_found(tool_result(done)), tool_result(done)
    with meshline.Client(mesh.url, mesh.api_key) as dev:
        scripted("get_order", {"order_id": order_id})
        assert tool_result(dev.chat(f"show order {order_id}", agent="commerce"))["status"] == orders[0]["status"]


def test_threads_jobs_collections_and_usage_are_the_tenants_own(mesh: TestMesh, rival: str) -> None:
    document = {"id": f"doc-{uuid.uuid4().hex[:6]}", "text": "Our secret opening hours are 9 to 5."}
    with meshline.Client(mesh.url, mesh.api_key) as dev, meshline.Client(mesh.url, rival) as other:
        thread = dev.chat("hello from dev", agent="general").thread_id
        job = dev.knowledge.ingest([document], collection="private")
        finished = ("completed", "completed_with_errors")
        wait_until_sync(lambda: dev.jobs.get(job.job_id).state in finished, 60, "the ingestion job did not finish")
        for attempt in (
            lambda: other.threads.get(thread),
            lambda: other.jobs.get(job.job_id),
            lambda: other.knowledge.delete_document(document["id"], collection="private"),
        ):
            with pytest.raises(MeshlineAPIError) as caught:
                attempt()
            assert caught.value.status == 404, caught.value.detail
        # "private" of the other tenant is its own collection (empty): deleting it touches nothing of dev's.
        try:
            other.knowledge.delete("private")
        except MeshlineAPIError as exc:
            assert exc.status == 404
        assert other.knowledge.info("private").chunks == 0
        assert dev.knowledge.info("private").chunks > 0, "the owner's collection is untouched"
        acted = httpx.get(
            f"{mesh.url}/v1/threads/{thread}",
            params={"user": "dev"},
            headers={"authorization": f"Bearer {rival}"},
            timeout=10,
        )
        assert acted.status_code == 404, "acting as `dev` of its own tenant reaches no thread of tenant dev"
        usage = httpx.get(
            f"{mesh.url}/v1/usage", params={"tenant": "dev"}, headers={"authorization": f"Bearer {rival}"}, timeout=10
        )
        assert usage.status_code == 404 and usage.headers["content-type"].startswith("application/problem+json")
        dev.knowledge.delete("private")


def test_memories_stay_in_their_tenant(mesh: TestMesh, rival: str) -> None:
    """What tenant dev's customer `dev` told the mesh is never recalled for the other tenant's `dev`."""
    marker = f"birthday-{uuid.uuid4().hex[:8]}"
    with meshline.Client(mesh.url, mesh.api_key) as dev, meshline.Client(mesh.url, rival) as other:
        dev.chat(f"remember that my birthday code is {marker}", agent="general")
        assert recalled_for(mesh, dev, marker), "positive control: dev's own memory is recalled for dev"
        count = len(prompts_mentioning(mesh, marker))
        other.chat("what is my birthday code?", agent="general", user="dev")
        assert len(prompts_mentioning(mesh, marker)) == count
