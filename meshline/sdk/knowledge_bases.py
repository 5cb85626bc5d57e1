"""``client.knowledge`` and ``client.jobs``: ingest documents into a knowledge base and follow the job."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import JsonValue

from meshline.contracts import CollectionInfo, DocumentFormat, DocumentIn, JobAccepted, JobStatus

if TYPE_CHECKING:
    from meshline.sdk.client import Client

FORMATS: dict[str, DocumentFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
Document = DocumentIn | Mapping[str, JsonValue]
"""A document to ingest: a :class:`DocumentIn`, or its JSON form as a dict."""


def document_from_file(path: Path, doc_id: str | None = None) -> DocumentIn:
    """A document for ``path``: text files as text, PDFs as base64; the id defaults to the file's stem."""
    fmt = FORMATS.get(path.suffix.lower(), "text")
    doc_id = doc_id or path.stem
    metadata: dict[str, JsonValue] = {"source": path.name}
    # Not validated here: the service checks every document, so a bad one is its 422 like any other.
    if fmt == "pdf":
        content = base64.b64encode(path.read_bytes()).decode("ascii")
        return DocumentIn.model_construct(id=doc_id, format=fmt, metadata=metadata, content_base64=content)
    text = path.read_text(encoding="utf-8", errors="replace")
    return DocumentIn.model_construct(id=doc_id, format=fmt, metadata=metadata, text=text)


def _wire(document: Document) -> JsonValue:
    if isinstance(document, DocumentIn):
        return document.model_dump(mode="json", exclude_unset=True)
    return dict(document)


class KnowledgeBases:
    """Knowledge-base collections of the key's tenant (``client.knowledge``; needs the ``ingest`` scope)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def ingest(self, documents: Iterable[Document], collection: str = "default") -> JobAccepted:
        """Queue documents (:class:`DocumentIn`, or dicts with ``id``, ``text`` or ``content_base64``,
        ``format``, ``title``, ``metadata``)."""
        body = {"documents": [_wire(doc) for doc in documents]}
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
