"""Through a whole running mesh: `meshline up`'s KB seeding via the SDK and the orchestrator's ingest proxy,
then a chat turn pinned to the knowledge agent answers with citations (fake LLM provider only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meshline.cli.ingest_cmd import ingest_and_wait, seed_knowledge_base
from meshline.cli.up_cmd import KNOWLEDGE_DIR
from meshline.sdk import Client, MeshlineAPIError
from meshline.testing.mesh import TestMesh, run_test_mesh
from meshline.testing.wait import wait_until_sync

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


def test_documents_and_collections_are_deleted_through_the_orchestrator(mesh: TestMesh, tmp_path: Path) -> None:
    (tmp_path / "gift-cards.md").write_text("# Gift cards\n\nGift cards never expire.")
    (tmp_path / "loyalty.md").write_text("# Loyalty\n\nEvery point is worth one cent.")
    with Client(base_url=mesh.url, api_key=mesh.api_key) as client:
        default_chunks = client.knowledge.info().chunks
        assert ingest_and_wait(client, [tmp_path / "gift-cards.md", tmp_path / "loyalty.md"], "scratch", False) == (
            2,
            0,
        )
        assert client.knowledge.info("scratch").chunks == 2

        client.knowledge.delete_document("gift-cards", collection="scratch")
        assert client.knowledge.info("scratch").chunks == 1
        with pytest.raises(MeshlineAPIError) as gone:
            client.knowledge.delete_document("gift-cards", collection="scratch")
        assert (gone.value.status, gone.value.code) == (404, "document_not_found")

        client.knowledge.delete("scratch")
        assert client.knowledge.info("scratch").chunks == 0
        with pytest.raises(MeshlineAPIError) as missing:
            client.knowledge.delete("never-made")
        assert (missing.value.status, missing.value.code) == (404, "collection_not_found")
        assert client.knowledge.info().chunks == default_chunks  # other collections are untouched


def test_file_uploads_pass_through_the_orchestrator(mesh: TestMesh) -> None:
    headers = {"authorization": f"Bearer {mesh.api_key}"}
    files = [
        ("files", ("warranty.md", b"# Warranty\n\nEvery item has a two-year warranty.", "text/markdown")),
        ("files", ("hours.html", b"<title>Hours</title><p>Support answers 9-17.</p>", "text/html")),
    ]
    response = httpx.post(
        f"{mesh.url}/v1/collections/uploads/documents",
        files=files,
        data={"metadata": '{"source": "upload"}'},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    with Client(base_url=mesh.url, api_key=mesh.api_key) as client:
        job_id = response.json()["job_id"]
        wait_until_sync(lambda: client.jobs.get(job_id).finished, timeout=60, interval=0.2, what="the upload job")
        status = client.jobs.get(job_id)
        assert (status.done, status.failed) == (2, 0), status
        assert client.knowledge.info("uploads").chunks == 2
        client.knowledge.delete("uploads")

    bad = httpx.post(f"{mesh.url}/v1/collections/uploads/documents", json={"documents": "x"}, headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
