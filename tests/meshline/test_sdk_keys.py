"""``client.keys`` (sync and async) against a real orchestrator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from meshline.sdk import (
    ApiKeyInfo,
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    MeshlineAPIError,
    NotFoundError,
)
from tests.meshline.keys_orchestrator import ADMIN, serve_orchestrator


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, redis_server: str, token_keys: tuple[str, str]) -> Iterator[str]:
    with serve_orchestrator(tmp_path_factory.mktemp("home"), redis_server, token_keys) as served:
        yield served


def test_keys_create_list_revoke(url: str) -> None:
    with Client(url, ADMIN, timeout=10) as admin:
        later = datetime.now(UTC) + timedelta(days=1)
        tenant_admin = admin.keys.create("acme", ["tenant_admin"], name="acme ops", expires_at=later)
        assert tenant_admin.key.startswith("ml_") and tenant_admin.tenant == "acme"
        assert tenant_admin.expires_at is not None and abs(tenant_admin.expires_at - later) < timedelta(seconds=1)
        other = admin.keys.create("globex", ["chat"])

    with Client(url, tenant_admin.key, timeout=10) as ops:
        backend = ops.keys.create(scopes=["chat", "act_as_user"], ttl_s=3600)  # its own tenant
        assert backend.tenant == "acme" and backend.created_by == tenant_admin.id
        listed = ops.keys.list()
        assert all(isinstance(k, ApiKeyInfo) and k.tenant == "acme" for k in listed)
        assert {k.id for k in listed} == {tenant_admin.id, backend.id}
        with pytest.raises(MeshlineAPIError) as foreign:
            ops.keys.list("globex")
        assert (foreign.value.status, foreign.value.code) == (403, "foreign_tenant")
        with pytest.raises(NotFoundError):
            ops.keys.revoke(other.id)
        ops.keys.revoke(backend.id)
        assert [k.state for k in ops.keys.list(include_inactive=True) if k.id == backend.id] == ["revoked"]

    with Client(url, backend.key, timeout=10) as revoked, pytest.raises(AuthenticationError) as refused:
        revoked.threads.get("t1")
    assert refused.value.code == "invalid_api_key"


def test_bad_arguments_fail_before_any_request(url: str) -> None:
    with Client(url, ADMIN, timeout=10) as admin:
        for kwargs in ({"scopes": ["root"]}, {"ttl_s": 0}, {"tenant": "a b"}):
            with pytest.raises(InvalidRequestError) as info:
                admin.keys.create(**kwargs)  # type: ignore[arg-type]
            assert info.value.status == 422 and info.value.problem.errors


async def test_async_keys(url: str) -> None:
    async with AsyncClient(url, ADMIN, timeout=10) as admin:
        created = await admin.keys.create("initech", ["chat"], "peter", "peter's phone")
        assert (created.user, created.name, created.scopes) == ("peter", "peter's phone", ["chat"])
        assert [k.id for k in await admin.keys.list("initech")] == [created.id]
        await admin.keys.revoke(created.id)
        assert await admin.keys.list("initech") == []
        with pytest.raises(NotFoundError):
            await admin.keys.revoke("0000000000000000")
