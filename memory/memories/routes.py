"""HTTP API of the user memories. Tenant and user always come from the service token.

- Scopes: ``memories:read`` (search, export), ``memories:write`` (write, erase), as the token names them.
- ``POST /v1/memories``: queue a write on the Redis stream (202 ``queued``); with
  ``?wait=true`` embed and store it before answering (201 ``stored``: read-your-writes).
- ``POST /v1/memories/search``: the caller's nearest memories.
- ``GET /v1/memories``: export every memory of the caller.
- ``DELETE /v1/memories``: erase every memory of the caller.

``POST /v1/embeddings`` is shared by both domains: :mod:`meshline.memory.embedding_api`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from meshline.contracts import MemorySearch, MemoryWrite
from meshline.embeddings import Embedder
from meshline.errors import ServiceUnavailable
from meshline.memory.memories.models import MemoriesDeleted, MemoryAccepted, MemoryExport, MemorySearchResult
from meshline.memory.memories.store import MemoryStore
from meshline.memory.memories.write_stream import MemoryWriteJob, enqueue_write, store_jobs
from meshline.memory.settings import MemorySettings
from meshline.service import MEMORIES_READ, MEMORIES_WRITE, Identity, require_identity

router = APIRouter(prefix="/v1", tags=["memory"])
Reader = Annotated[Identity, Depends(require_identity(MEMORIES_READ))]
Writer = Annotated[Identity, Depends(require_identity(MEMORIES_WRITE))]


def _embedder(request: Request) -> Embedder:
    embedder: Embedder = request.app.state.embedder
    return embedder


def _store(request: Request) -> MemoryStore:
    store: MemoryStore = request.app.state.memory_store
    return store


@router.post(
    "/memories",
    status_code=202,
    response_model=MemoryAccepted,
    responses={201: {"model": MemoryAccepted, "description": "Stored (with ?wait=true)"}},
)
async def write_memory(
    body: MemoryWrite,
    request: Request,
    caller: Writer,
    wait: Annotated[bool, Query(description="Store before answering instead of queueing.")] = False,
) -> JSONResponse:
    """Remember ``text`` for the caller; an existing id is replaced, not duplicated."""
    job = MemoryWriteJob.accept(caller.tenant, caller.user, body)
    if wait:
        await store_jobs([job], _store(request), _embedder(request))
        return JSONResponse(MemoryAccepted(id=job.id, status="stored").model_dump(), status_code=201)
    settings: MemorySettings = request.app.state.settings
    try:
        await enqueue_write(request.app.state.redis, settings.stream_key, job)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("the memory write stream is unavailable", code="stream_unavailable") from exc
    return JSONResponse(MemoryAccepted(id=job.id, status="queued").model_dump(), status_code=202)


@router.post("/memories/search", response_model=MemorySearchResult)
async def search_memories(body: MemorySearch, request: Request, caller: Reader) -> MemorySearchResult:
    """The ``k`` memories of the caller most similar to ``query`` (score = cosine similarity)."""
    [vector] = await _embedder(request).embed([body.query])
    hits = await _store(request).search(caller.tenant, caller.user, vector, body.k)
    return MemorySearchResult(hits=hits)


@router.get("/memories", response_model=MemoryExport)
async def export_memories(request: Request, caller: Reader) -> MemoryExport:
    """Every memory of the caller, oldest first (stored but still queued writes are not included)."""
    memories = await _store(request).export(caller.tenant, caller.user)
    return MemoryExport(memories=memories)


@router.delete("/memories", response_model=MemoriesDeleted)
async def delete_memories(request: Request, caller: Writer) -> MemoriesDeleted:
    """Erase every stored memory of the caller."""
    return MemoriesDeleted(deleted=await _store(request).delete_user(caller.tenant, caller.user))
