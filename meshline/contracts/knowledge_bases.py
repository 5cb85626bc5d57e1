"""Knowledge bases (memory service ``/v1/search``, ``/v1/collections``, ``/v1/jobs``).

The tenant always comes from the service token; a collection name is local to its tenant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from meshline.contracts.memory import StoredMetadata

DocumentFormat = Literal["text", "markdown", "html", "pdf"]
SearchMode = Literal["dense", "lexical", "hybrid"]
JobState = Literal["queued", "running", "completed", "completed_with_errors"]
MAX_DOCUMENTS_PER_REQUEST = 10_000


class DocumentIn(BaseModel):
    """One document to ingest. Content problems (no text, broken PDF, nested metadata) fail this
    document alone, in the job; only the shape is checked when the request arrives."""

    id: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, description="Text, markdown or HTML source.")
    content_base64: str | None = Field(default=None, description="The file's bytes (required for PDF).")
    format: DocumentFormat = "text"
    title: str = Field(default="", max_length=500, description="Default: the document's own title, else its id.")
    metadata: dict[str, JsonValue] = Field(
        default_factory=dict, description="Flat: strings, numbers, booleans (anything else fails the document)."
    )


class IngestRequest(BaseModel):
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST)


class JobAccepted(BaseModel):
    job_id: str
    collection: str
    total: int
    status_url: str


class JobError(BaseModel):
    document_id: str
    error: str


class JobStatus(BaseModel):
    """Progress of one ingestion job: ``done + failed == total`` once it has finished."""

    id: str
    collection: str
    state: JobState
    total: int
    done: int
    failed: int
    errors: list[JobError] = Field(default_factory=list)
    created_at: float

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=8000)
    collection: str = "default"
    k: int = Field(default=10, ge=1, le=200)
    mode: SearchMode = "hybrid"
    where: dict[str, JsonValue] | None = Field(default=None, description="Chroma metadata filter, e.g. {'lang': 'en'}.")


class SearchHit(BaseModel):
    id: str = Field(description="Chunk id: <document id>#<index>.")
    document_id: str
    title: str = ""
    score: float = Field(description="dense: cosine similarity; lexical: BM25; hybrid: reciprocal rank fusion.")
    dense_score: float | None = Field(
        default=None, description="Cosine similarity, when the dense retriever ranked it."
    )
    text: str
    metadata: StoredMetadata = Field(default_factory=dict)


class SearchResult(BaseModel):
    mode: SearchMode
    hits: list[SearchHit]


class CollectionInfo(BaseModel):
    name: str
    chunks: int
