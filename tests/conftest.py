"""Shared fixtures: a private Redis, service-token keys, a fake OpenAI-compatible provider.

Nothing here is mocked but the LLM provider: Redis is a real redis-server on a free port,
behind a password like every Redis the mesh runs (its URL carries the credentials), and the
fake provider is a real HTTP server in its own process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from meshline.cli.ports import free_port
from meshline.cli.private_files import new_secret
from meshline.cli.redis_server import redis_url_for, start_redis
from meshline.service import scopes
from meshline.service.auth import ServiceTokenIssuer, generate_keypair
from meshline.testing.fake_openai import start_fake_openai
from meshline.testing.mesh import TestMesh, run_test_mesh

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """``redis://:<password>@127.0.0.1:<port>/0`` of a session-wide redis-server with ``requirepass``."""
    port, password = free_port(), new_secret()
    proc = start_redis(port, password=password)
    yield redis_url_for(port, password)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A clean Redis database for each test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server


@pytest.fixture(scope="session")
def token_keys() -> tuple[str, str]:
    """(private PEM, public PEM) for service tokens."""
    return generate_keypair()


# Every scope but admin: tests name narrower scopes where the scope is what they check.
SERVICE_SCOPES = scopes.SERVICE_SCOPES


@pytest.fixture
def issue_token(token_keys: tuple[str, str]) -> Callable[..., str]:
    """Mint a service token for ONE audience (a one-element list is accepted for brevity)."""
    issuer = ServiceTokenIssuer(token_keys[0])

    def issue(
        audience: str | list[str],
        tenant: str = "acme",
        user: str = "alice",
        scopes: tuple[str, ...] = SERVICE_SCOPES,
    ) -> str:
        if isinstance(audience, list):
            if len(audience) != 1:
                raise ValueError(f"a service token has one audience, not {audience}: mint one per service")
            audience = audience[0]
        return issuer.issue(tenant=tenant, user=user, scopes=scopes, audience=audience)

    return issue


@pytest.fixture
def mesh_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, token_keys: tuple[str, str]
) -> dict[str, str]:
    """MESHLINE_* settings for services built in-process by a test."""
    env = {
        "MESHLINE_HOME": str(tmp_path / "home"),
        "MESHLINE_REDIS_URL": redis_url,
        "MESHLINE_TOKEN_PUBLIC_KEY": token_keys[1],
        "MESHLINE_TOKEN_PRIVATE_KEY": token_keys[0],
        # In-process agents call tool services the tests serve on loopback.
        "MESHLINE_ASSISTANT_TOOL_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def fake_llm_url() -> Iterator[str]:
    """Base URL (with /v1) of a fake OpenAI-compatible provider in its own process."""
    port = free_port()
    proc = start_fake_openai(port)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestMesh]:
    """One mesh of real processes per session (fake LLM provider at the HTTP boundary), shared by the
    end-to-end and security tests."""
    with run_test_mesh(tmp_path_factory.mktemp("mesh") / ".meshline") as running:
        yield running
