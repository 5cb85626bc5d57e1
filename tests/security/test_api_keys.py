"""API keys across real orchestrator processes: two replicas share one Redis and one database.

- a key revoked through replica A is refused by A on the next request, and by B within seconds;
- a Redis flushed empty (FLUSHALL) locks no key out: the keys live in the database.
Runs on the default SQLite file (both replicas on one home) and on Postgres when DATABASE_URL is set.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.ports import free_port
from meshline.cli.supervisor import Supervisor
from meshline.testing.wait import wait_until_sync

pytestmark = pytest.mark.e2e
ADMIN = "security-admin-key"
DATABASE_URL = os.environ.get("DATABASE_URL")
READY_S = 180.0
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres", marks=pytest.mark.skipif(not DATABASE_URL, reason="set DATABASE_URL to a PostgreSQL database")
    ),
]


def orchestrator(name: str, home: Path, redis_url: str, token_keys: tuple[str, str], db: str) -> ProcessSpec:
    port = free_port()
    env = {
        "MESHLINE_HOME": str(home),  # one home: on SQLite, one keys.sqlite for both replicas
        "MESHLINE_REDIS_URL": redis_url,
        "MESHLINE_TOKEN_PUBLIC_KEY": token_keys[1],
        "MESHLINE_TOKEN_PRIVATE_KEY": token_keys[0],
        "MESHLINE_ORCHESTRATOR_PORT": str(port),
        "MESHLINE_ORCHESTRATOR_ADMIN_KEY": ADMIN,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **({"MESHLINE_ORCHESTRATOR_DATABASE_URL": str(DATABASE_URL)} if db == "postgres" else {}),
    }
    # /healthz answers once the lifespan (key store included) has started; the router may still be loading.
    return ProcessSpec(name, [sys.executable, "-m", "meshline.orchestrator"], port, ready_path="/healthz", env=env)


@pytest.fixture(params=BACKENDS)
def replicas(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, token_keys: tuple[str, str]
) -> Iterator[tuple[str, str]]:
    supervisor = Supervisor(tmp_path / "logs")
    specs = [orchestrator(n, tmp_path / "home", redis_url, token_keys, request.param) for n in ("a", "b")]
    try:
        for spec in specs:
            supervisor.start(spec)
        for spec in specs:
            supervisor.wait_ready(spec, READY_S)
        yield specs[0].url, specs[1].url
    finally:
        supervisor.stop_all()


def status(url: str, key: str) -> int:
    """A chat-scoped read of a thread nobody has: 404 once the key is accepted, 401 when it is not."""
    response = httpx.get(f"{url}/v1/threads/no-such-thread", headers={"authorization": f"Bearer {key}"}, timeout=10)
    return response.status_code


def mint(url: str, tenant: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/v1/keys",
        json={"tenant": tenant, "scopes": ["chat"]},
        headers={"authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_revocation_reaches_every_replica_and_a_flushed_redis_locks_nobody_out(
    replicas: tuple[str, str], redis_url: str
) -> None:
    a, b = replicas
    tenant = f"sec-{time.time_ns()}"
    used = mint(a, tenant)
    never_used = mint(a, tenant)
    assert status(a, used["key"]) == 404 and status(b, used["key"]) == 404

    flushed = redis.Redis.from_url(redis_url)
    try:
        flushed.flushall()
        assert flushed.dbsize() == 0
    finally:
        flushed.close()
    # B never saw this key and Redis holds nothing: only the database can vouch for it.
    assert status(b, never_used["key"]) == 404
    assert status(a, used["key"]) == 404 and status(b, used["key"]) == 404

    revoked = httpx.delete(f"{a}/v1/keys/{used['id']}", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert revoked.status_code == 204
    assert status(a, used["key"]) == 401  # the very next request to A
    wait_until_sync(lambda: status(b, used["key"]) == 401, 3.0, "replica B still accepts the revoked key after 3 s")
    refused = httpx.get(f"{b}/v1/threads/x", headers={"authorization": f"Bearer {used['key']}"}, timeout=10)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "invalid_api_key"
    assert status(b, never_used["key"]) == 404  # revoking one key touches no other
