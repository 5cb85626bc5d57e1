"""What a caller uploads: the documents of one ingestion request, from JSON or multipart files.

Only the shape is checked here (422 for a malformed request); a document's content and
metadata are checked in its job, so a bad document fails alone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from fastapi import Request
from pydantic import JsonValue, ValidationError
from starlette.datastructures import UploadFile

from meshline.contracts import MAX_DOCUMENTS_PER_REQUEST, DocumentFormat, DocumentIn, IngestRequest
from meshline.errors import Unprocessable
from meshline.memory.knowledge_bases.chunking import Scalar, check_metadata
from meshline.memory.knowledge_bases.decoding import DocumentError, format_for


@dataclass(frozen=True)
class DocumentUpload:
    """One uploaded document: its id, its content (text, or base64 of the file's bytes when
    ``binary``), format, title, and the caller's metadata as the JSON text it arrived as."""

    id: str
    content: str
    format: DocumentFormat = "text"
    binary: bool = False
    title: str = ""
    metadata_json: str = "{}"

    @classmethod
    def from_json(cls, doc: DocumentIn) -> DocumentUpload:
        """A document of a JSON request: ``content_base64`` (binary) wins over ``text``."""
        if doc.content_base64 is not None:
            content, binary = doc.content_base64, True
        else:
            content, binary = doc.text or "", False
        return cls(doc.id, content, doc.format, binary, doc.title, json.dumps(doc.metadata))

    @classmethod
    def from_file(cls, filename: str, data: bytes, content_type: str | None, metadata_json: str) -> DocumentUpload:
        """An uploaded file: id = its name, format from its name or content type."""
        content = base64.b64encode(data).decode("ascii")
        return cls(filename, content, format_for(filename, content_type), True, metadata_json=metadata_json)

    @property
    def size(self) -> int:
        """Bytes of content, as the ingestion quotas count them."""
        return len(self.content.encode())

    def metadata(self) -> dict[str, Scalar]:
        """The caller's flat metadata; raises DocumentError."""
        try:
            return check_metadata(json.loads(self.metadata_json))
        except json.JSONDecodeError as exc:
            raise DocumentError(f"metadata is not JSON: {exc}") from exc


def uploads_from_json(body: JsonValue) -> list[DocumentUpload]:
    """The documents of a JSON ``IngestRequest``; 422 when its shape is wrong."""
    try:
        request = IngestRequest.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable(f"invalid ingestion request: {exc.errors()[0]['msg']}", code="invalid_documents") from exc
    return [DocumentUpload.from_json(doc) for doc in request.documents]


async def uploads_from_form(request: Request) -> list[DocumentUpload]:
    """The files of a multipart request (parts named ``files``; an optional ``metadata`` field
    applies to every file); 422 without files or with too many."""
    form = await request.form()
    metadata = form.get("metadata")
    metadata_json = metadata if isinstance(metadata, str) else "{}"
    out = []
    for item in form.getlist("files"):
        if not isinstance(item, UploadFile) or not item.filename:
            raise Unprocessable("every 'files' part must be a file with a name", code="invalid_documents")
        out.append(DocumentUpload.from_file(item.filename, await item.read(), item.content_type, metadata_json))
    if not out:
        raise Unprocessable("no files: send multipart parts named 'files'", code="invalid_documents")
    if len(out) > MAX_DOCUMENTS_PER_REQUEST:
        raise Unprocessable(f"at most {MAX_DOCUMENTS_PER_REQUEST} files per request", code="invalid_documents")
    return out
