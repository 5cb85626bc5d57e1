"""``client.knowledge`` and ``client.jobs``: ingest documents into a knowledge base and follow the job."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from meshline.contracts.knowledge import CollectionInfo, DocumentFormat, JobAccepted, JobStatus

if TYPE_CHECKING:
    from meshline.sdk.client import Client

FORMATS: dict[str, DocumentFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


def document_from_file(path: Path, doc_id: str | None = None) -> dict[str, Any]:
    """A JSON document for ``path``: text files as text, PDFs as base64; the id defaults to the file's stem."""
    fmt = FORMATS.get(path.suffix.lower(), "text")
    doc: dict[str, Any] = {"id": doc_id or path.stem, "format": fmt, "metadata": {"source": path.name}}
    if fmt == "pdf":
        doc["content_base64"] = base64.b64encode(path.read_bytes()).decode("ascii")
    else:
        doc["text"] = path.read_text(encoding="utf-8", errors="replace")
    return doc


class Knowledge:
    """Knowledge-base collections of the key's tenant (needs the ``ingest`` scope)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def ingest(self, documents: Iterable[dict[str, Any]], collection: str = "default") -> JobAccepted:
        """Queue documents (dicts with ``id``, ``text`` or ``content_base64``, ``format``, ``title``, ``metadata``)."""
        body = {"documents": list(documents)}
        response = self._client._request("POST", f"/v1/collections/{quote(collection, safe='')}/documents", json=body)
        return JobAccepted.model_validate_json(response.content)

    def ingest_files(self, paths: Iterable[Path], collection: str = "default") -> JobAccepted:
        """Queue files (text, markdown, HTML, PDF), one document each, id = file stem."""
        return self.ingest([document_from_file(p) for p in paths], collection)

    def info(self, collection: str = "default") -> CollectionInfo:
        response = self._client._request("GET", f"/v1/collections/{quote(collection, safe='')}")
        return CollectionInfo.model_validate_json(response.content)

    def delete(self, collection: str) -> None:
        """Delete a whole collection; ``MeshlineAPIError`` (404) when there is none."""
        self._client._request("DELETE", f"/v1/collections/{quote(collection, safe='')}")

    def delete_document(self, document_id: str, collection: str = "default") -> None:
        """Delete one document's chunks; ``MeshlineAPIError`` (404) when the collection has none."""
        path = f"/v1/collections/{quote(collection, safe='')}/documents/{quote(document_id, safe='')}"
        self._client._request("DELETE", path)


class Jobs:
    """``client.jobs``: ingestion job progress."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, job_id: str) -> JobStatus:
        response = self._client._request("GET", f"/v1/jobs/{quote(job_id, safe='')}")
        return JobStatus.model_validate_json(response.content)
