"""Fixtures of the LLM layer tests: the service in-process, pointed at a fake provider by a tmp config."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

# Set before litellm is first imported: no fetch of its price map from GitHub.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from meshline.agents.llm.app import create_app  # noqa: E402
from meshline.agents.llm.settings import LlmSettings  # noqa: E402
from meshline.service.settings import MeshSettings  # noqa: E402
from meshline.testing.asgi import asgi_client
from tests.agents.llm.llm_helpers import RunLlm, write_config  # noqa: E402


@pytest.fixture(autouse=True)
def _no_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell must not repoint the service under test.
    for name in (
        "MESHLINE_LLM_MODEL",
        "MESHLINE_LLM_API_BASE",
        "MESHLINE_LLM_API_KEY",
        "MESHLINE_LLM_CONFIG",
        "MESHLINE_LLM_NUM_RETRIES",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def llm_token(issue_token: Callable[..., str]) -> str:
    return issue_token(audience=["llm"])


@pytest.fixture
def fake_config(tmp_path: Path, fake_llm_url: str) -> Path:
    """``default`` (two deployments) and ``fast``, all served by the fake provider."""
    deployment = {"model": "openai/smollm2", "api_base": fake_llm_url, "api_key": "local"}
    return write_config(
        tmp_path / "meshline.yaml",
        [{"alias": "default", **deployment}, {"alias": "default", **deployment}, {"alias": "fast", **deployment}],
    )


@pytest.fixture
def run_llm(token_keys: tuple[str, str], tmp_path: Path, llm_token: str, redis_url: str) -> RunLlm:
    """``async with run_llm(config=path, **settings) as client``: the app with its lifespan running."""

    @asynccontextmanager
    async def run(*, token: str | None = llm_token, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        overrides.setdefault("num_retries", 0)
        mesh = MeshSettings(token_public_key=token_keys[1], home=tmp_path / "home", redis_url=redis_url)
        app = create_app(LlmSettings(mesh=mesh, **overrides))
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with asgi_client(app, "http://llm", headers) as client:
            yield client

    return run
