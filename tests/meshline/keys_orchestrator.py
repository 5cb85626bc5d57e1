"""A real orchestrator served over HTTP (uvicorn in a thread) for the SDK and CLI key tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from meshline.orchestrator.app import create_app
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.serve import serve_in_thread

ADMIN = "sdk-keys-admin"


@contextmanager
def serve_orchestrator(home: Path, redis_url: str, token_keys: tuple[str, str]) -> Iterator[str]:
    """The orchestrator's base URL; its bootstrap (platform admin) key is ``ADMIN``."""
    plain = redis.Redis.from_url(redis_url)
    plain.flushdb()
    plain.close()
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "MESHLINE_HOME": str(home),
            "MESHLINE_REDIS_URL": redis_url,
            "MESHLINE_TOKEN_PUBLIC_KEY": token_keys[1],
            "MESHLINE_TOKEN_PRIVATE_KEY": token_keys[0],
            "MESHLINE_ORCHESTRATOR_ADMIN_KEY": ADMIN,
        }.items():
            env.setenv(name, value)
        app = create_app(OrchestratorSettings())
    with serve_in_thread(app, lifespan="on") as url:
        yield url
