"""HTTP API of the knowledge bases. The tenant always comes from the service token.

- ``POST /v1/collections/{name}/documents`` (scope ``ingest``): JSON ``{"documents": [...]}``
  or multipart files (``files``: text, markdown, HTML, PDF); 202 with a job id at once, or 429
  past the tenant's queue quota, 503 when the ingestion stream is full (both with Retry-After).
- ``GET /v1/jobs/{id}``: the job's progress and per-document errors.
- ``GET /v1/collections/{name}``: how many chunks the collection holds.
- ``DELETE /v1/collections/{name}`` and ``DELETE /v1/collections/{name}/documents/{id}`` (scope
  ``ingest``): remove a whole collection or one document's chunks (from Chroma and, through the
  BM25 generation, from every replica's lexical index); 404 when there is nothing to delete.
- ``POST /v1/search``: dense, lexical or hybrid search with a metadata filter.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError

from meshline.contracts import CollectionInfo, JobAccepted, JobStatus, SearchRequest, SearchResult
from meshline.errors import MeshlineError, ServiceUnavailable, Unprocessable
from meshline.memory.knowledge_bases.ingest_stream import enqueue_documents
from meshline.memory.knowledge_bases.jobs import JobBook
from meshline.memory.knowledge_bases.metrics import IngestMetrics
from meshline.memory.knowledge_bases.search import KnowledgeBaseSearch
from meshline.memory.knowledge_bases.store import KnowledgeBaseStore, check_collection_name
from meshline.memory.knowledge_bases.uploads import uploads_from_form, uploads_from_json
from meshline.memory.settings import MemorySettings
from meshline.service import KNOWLEDGE_READ, KNOWLEDGE_WRITE, Identity, require_identity

router = APIRouter(prefix="/v1", tags=["knowledge"])
Reader = Annotated[Identity, Depends(require_identity(KNOWLEDGE_READ))]
Writer = Annotated[Identity, Depends(require_identity(KNOWLEDGE_WRITE))]


@router.post("/collections/{name}/documents", status_code=202, response_model=JobAccepted)
async def ingest_documents(name: str, request: Request, caller: Writer) -> JSONResponse:
    """Queue documents for ingestion into the caller's collection ``name``; 202 with the job."""
    check_collection_name(name)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        documents = await uploads_from_form(request)
    else:
        try:
            body = await request.json()
        except ValueError as exc:
            raise Unprocessable("the body must be JSON or multipart/form-data", code="invalid_documents") from exc
        documents = uploads_from_json(body)
    settings: MemorySettings = request.app.state.settings
    jobs: JobBook = request.app.state.jobs
    try:
        job_id = await enqueue_documents(request.app.state.redis, settings, jobs, caller.tenant, name, documents)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("the ingestion stream is unavailable", code="stream_unavailable") from exc
    except MeshlineError as refusal:  # a quota or the full stream (429/503/413, naming the limit)
        metrics: IngestMetrics = request.app.state.ingest_metrics
        metrics.refused.labels(code=refusal.code).inc()
        raise
    accepted = JobAccepted(job_id=job_id, collection=name, total=len(documents), status_url=f"/v1/jobs/{job_id}")
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": accepted.status_url})


@router.get("/jobs/{job_id}", response_model=JobStatus)
async def job_status(job_id: str, request: Request, caller: Reader) -> JobStatus:
    """Progress of one of the caller's tenant's ingestion jobs."""
    jobs: JobBook = request.app.state.jobs
    return await jobs.status(job_id, caller.tenant)


@router.get("/collections/{name}", response_model=CollectionInfo)
async def collection_info(name: str, request: Request, caller: Reader) -> CollectionInfo:
    """How many chunks the caller's tenant's collection holds (0 when it does not exist yet)."""
    store: KnowledgeBaseStore = request.app.state.kb_store
    return CollectionInfo(name=name, chunks=await store.count(caller.tenant, name))


@router.delete("/collections/{name}", status_code=204)
async def delete_collection(name: str, request: Request, caller: Writer) -> Response:
    """Delete the caller's tenant's collection ``name`` with every chunk (404 when there is none)."""
    searcher: KnowledgeBaseSearch = request.app.state.kb_search
    await searcher.store.delete_collection(caller.tenant, name)
    await searcher.lexical.forget(searcher.store.chroma_name(caller.tenant, name))
    return Response(status_code=204)


@router.delete("/collections/{name}/documents/{document_id:path}", status_code=204)
async def delete_document(name: str, document_id: str, request: Request, caller: Writer) -> Response:
    """Delete one document's chunks from the caller's tenant's collection (404 when it has none)."""
    searcher: KnowledgeBaseSearch = request.app.state.kb_search
    await searcher.store.delete_document(caller.tenant, name, document_id)
    await searcher.lexical.bump(searcher.store.chroma_name(caller.tenant, name))
    return Response(status_code=204)


@router.post("/search", response_model=SearchResult)
async def search(body: SearchRequest, request: Request, caller: Reader) -> SearchResult:
    """The ``k`` best chunks of the caller's tenant's collection for ``query``."""
    searcher: KnowledgeBaseSearch = request.app.state.kb_search
    return SearchResult(mode=body.mode, hits=await searcher.search(caller.tenant, body))
