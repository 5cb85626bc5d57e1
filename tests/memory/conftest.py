"""Memory service fixtures: the real MiniLM model (loaded once), real Redis, real embedded Chroma."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshline.embeddings import LocalEmbedder
from meshline.memory.settings import MemorySettings
from tests.memory.memory_harness import MemoryService, running_memory


@pytest.fixture(scope="session")
def embedder() -> Iterator[LocalEmbedder]:
    """The bundled all-MiniLM-L6-v2, loaded once for the whole session (a load takes seconds)."""
    model = LocalEmbedder()
    yield model
    model.close()


@pytest.fixture
def memory_settings(mesh_env: dict[str, str], tmp_path: Path) -> MemorySettings:
    # Short polls so tests see worker progress quickly; reclaiming stays off unless a test lowers it.
    return MemorySettings(chroma_path=tmp_path / "chroma", worker_block_ms=50, claim_idle_ms=60_000)


@pytest.fixture
async def memory(memory_settings: MemorySettings, embedder: LocalEmbedder) -> AsyncIterator[MemoryService]:
    async with running_memory(memory_settings, embedder) as service:
        yield service


# The orchestrator's recall/remember scopes plus knowledge-base search: what most tests act with.
READ_WRITE_MEMORIES = ("memories:read", "memories:write", "knowledge:read")


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., dict[str, Any]]:
    """Authorization headers of a service token for the memory service."""

    def headers(
        tenant: str = "acme", user: str = "alice", scopes: tuple[str, ...] = READ_WRITE_MEMORIES
    ) -> dict[str, Any]:
        return {"Authorization": f"Bearer {issue_token('memory', tenant=tenant, user=user, scopes=scopes)}"}

    return headers
