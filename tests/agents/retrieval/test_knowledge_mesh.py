"""Through a whole running mesh: `meshline up`'s KB seeding via the SDK and the orchestrator's ingest proxy,
then a chat turn pinned to the knowledge agent answers with citations (fake LLM provider only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meshline.cli.ingest_cmd import seed_knowledge_base
from meshline.cli.up_cmd import KNOWLEDGE_DIR
from meshline.sdk import Client, MeshlineAPIError
from meshline.testing.mesh import TestMesh, run_test_mesh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestMesh]:
    with run_test_mesh(tmp_path_factory.mktemp("kmesh") / ".meshline") as running:
        yield running


def test_seeding_ingests_once_and_the_knowledge_agent_cites_it(mesh: TestMesh) -> None:
    with Client(base_url=mesh.url, api_key=mesh.api_key) as client:
        assert seed_knowledge_base(client, KNOWLEDGE_DIR) == len(list(KNOWLEDGE_DIR.glob("*.md")))
        assert seed_knowledge_base(client, KNOWLEDGE_DIR) == 0  # not empty any more: no second ingestion
        assert client.knowledge.info().chunks >= 6

    response = httpx.post(
        f"{mesh.url}/v1/chat",
        json={"message": "How long do I have to return an item?", "agent": "knowledge"},
        headers={"authorization": f"Bearer {mesh.api_key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"]["agents"] == ["knowledge"] or "knowledge" in str(body["route"])
    assert any(c["document_id"] == "returns-and-refunds" for c in body["citations"]), body


def test_ingest_proxy_needs_the_ingest_scope(mesh: TestMesh, tmp_path: Path) -> None:
    minted = httpx.post(
        f"{mesh.url}/v1/keys",
        json={"tenant": "dev", "user": "u2", "scopes": ["chat"], "name": "chat-only"},
        headers={"authorization": f"Bearer {mesh.admin_key}"},
        timeout=30,
    ).json()["key"]
    (tmp_path / "a.md").write_text("# A\n\nSomething.")
    with Client(base_url=mesh.url, api_key=minted) as client, pytest.raises(MeshlineAPIError) as exc:
        client.knowledge.ingest_files([tmp_path / "a.md"])
    assert exc.value.status == 403
