"""Identity end to end, through a running mesh: a turn runs as the (tenant, user) of the API key.

Two user-less keys of one tenant share no thread and no memory (the OpenAI-compatible endpoint
is exactly this case); a bound key cannot act as another user; acting for an end user needs the
``act_as_user`` scope and stays inside the key's tenant.
"""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest

import meshline
from meshline.sdk.errors import MeshlineAPIError
from meshline.testing.mesh import TestMesh
from meshline.testing.wait import WaitTimeout, wait_until_sync

pytestmark = pytest.mark.e2e


def mint(mesh: TestMesh, tenant: str, scopes: list[str], user: str | None = None) -> str:
    with meshline.Client(mesh.url, mesh.admin_key) as admin:
        return admin.keys.create(tenant, scopes, user=user).key


def prompts_mentioning(mesh: TestMesh, text: str) -> list[str]:
    """Every prompt the model was sent that contains ``text`` (system prompts with recalled memories included)."""
    found = []
    for request in mesh.provider_requests():
        for message in request.get("messages", []):  # type: ignore[union-attr]
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str) and text in content:
                found.append(content)
    return found


def recalled_for(mesh: TestMesh, client: meshline.Client, marker: str, timeout_s: float = 20.0) -> bool:
    """Whether a new turn of ``client`` gets ``marker`` back from memory (writes are queued, so poll)."""

    def recalled() -> bool:
        before = len(prompts_mentioning(mesh, marker))
        client.chat(f"what do you remember {uuid.uuid4().hex[:6]}?", agent="general")
        return len(prompts_mentioning(mesh, marker)) > before

    try:
        wait_until_sync(recalled, timeout_s, interval=0.5)
    except WaitTimeout:
        return False
    return True


def test_two_user_less_keys_of_one_tenant_share_no_thread_or_memory(mesh: TestMesh) -> None:
    tenant = f"iso-{uuid.uuid4().hex[:6]}"
    marker = f"locker-{uuid.uuid4().hex[:8]}"
    first, second = mint(mesh, tenant, ["chat"]), mint(mesh, tenant, ["chat"])
    with meshline.Client(mesh.url, first) as a, meshline.Client(mesh.url, second) as b:
        mine = a.chat(f"my locker code is {marker}", agent="general")
        with pytest.raises(MeshlineAPIError) as caught:
            b.threads.get(mine.thread_id)
        assert caught.value.status == 404  # not found, not forbidden: ids cannot be probed
        # The same thread id from the other key is a thread of its own, without the first key's turn.
        theirs = b.chat("hello", thread_id=mine.thread_id, agent="general")
        assert [m.role for m in b.threads.get(theirs.thread_id).messages] == ["user", "assistant"]
        assert len(a.threads.get(mine.thread_id).messages) == 2
        assert recalled_for(mesh, a, marker), "positive control: the first key's memory is recalled for it"
        count = len(prompts_mentioning(mesh, marker))
        b.chat("what is my locker code?", agent="general")
        assert len(prompts_mentioning(mesh, marker)) == count, "the second key was given the first key's memory"


def test_the_openai_endpoint_without_user_keeps_keys_apart(mesh: TestMesh) -> None:
    tenant = f"oai-{uuid.uuid4().hex[:6]}"
    marker = f"passport-{uuid.uuid4().hex[:8]}"
    first, second = mint(mesh, tenant, ["chat"]), mint(mesh, tenant, ["chat"])
    a = openai.OpenAI(base_url=f"{mesh.url}/v1", api_key=first, max_retries=0)
    b = openai.OpenAI(base_url=f"{mesh.url}/v1", api_key=second, max_retries=0)
    a.chat.completions.create(model="meshline/general", messages=[{"role": "user", "content": f"note {marker}"}])
    with meshline.Client(mesh.url, first) as own:
        assert recalled_for(mesh, own, marker)
    count = len(prompts_mentioning(mesh, marker))
    b.chat.completions.create(model="meshline/general", messages=[{"role": "user", "content": "what did I note?"}])
    assert len(prompts_mentioning(mesh, marker)) == count


def test_a_key_cannot_act_as_someone_else(mesh: TestMesh) -> None:
    tenant = f"who-{uuid.uuid4().hex[:6]}"
    bound = mint(mesh, tenant, ["chat"], user="alice")
    backend = mint(mesh, tenant, ["chat"])
    body = {"message": "hi", "agent": "general", "user": "bob"}
    for key in (bound, backend):  # bound to alice; no act_as_user scope
        response = httpx.post(f"{mesh.url}/v1/chat", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        threads = httpx.get(
            f"{mesh.url}/v1/threads/x", params={"user": "bob"}, headers={"authorization": f"Bearer {key}"}, timeout=10
        )
        assert threads.status_code == 403
    client = openai.OpenAI(base_url=f"{mesh.url}/v1", api_key=backend, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="meshline/general", messages=[{"role": "user", "content": "hi"}], user="bob"
        )


def test_a_backend_key_acts_for_its_own_tenants_users_only(mesh: TestMesh) -> None:
    tenant = f"act-{uuid.uuid4().hex[:6]}"
    backend = mint(mesh, tenant, ["chat", "act_as_user"])
    alice = mint(mesh, tenant, ["chat"], user="alice")
    with meshline.Client(mesh.url, backend) as api, meshline.Client(mesh.url, alice) as own:
        started = api.chat("hello for alice", agent="general", user="alice")
        # The backend acted as alice of its own tenant: alice's own key sees that thread.
        assert len(own.threads.get(started.thread_id).messages) == 2
        # A key of another tenant acting as "alice" is another person: the thread is not found,
        # and the same thread id from it is a new thread of its own.
        other = mint(mesh, f"{tenant}-other", ["chat", "act_as_user"])
        with meshline.Client(mesh.url, other) as stranger:
            with pytest.raises(MeshlineAPIError) as caught:
                stranger.threads.get(started.thread_id)  # as the key itself
            assert caught.value.status == 404
            view = httpx.get(
                f"{mesh.url}/v1/threads/{started.thread_id}",
                params={"user": "alice"},
                headers={"authorization": f"Bearer {other}"},
                timeout=10,
            )
            assert view.status_code == 404 and view.json()["code"] == "unknown_thread"
            fresh = stranger.chat("continue", thread_id=started.thread_id, agent="general", user="alice")
            assert fresh.thread_id == started.thread_id
        assert len(own.threads.get(started.thread_id).messages) == 2, "alice's thread was not touched"
