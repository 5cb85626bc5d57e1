"""Knowledge-base ingestion through the orchestrator: a thin proxy to the memory service.

``POST /v1/collections/{name}/documents``, ``GET /v1/jobs/{id}``, ``GET /v1/collections/{name}``,
``DELETE /v1/collections/{name}`` and ``DELETE /v1/collections/{name}/documents/{id}`` need an
API key with the ``ingest`` scope. The call is forwarded with a service token for the
key's tenant (audience ``memory``, scope ``ingest``), so the memory service, not the body,
decides whose collection it is. Ingestion bodies are JSON documents or multipart file uploads
(passed through as they came; the memory service parses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import JsonValue, ValidationError

from meshline.contracts import CollectionInfo, IngestRequest, JobAccepted, JobStatus
from meshline.errors import Unprocessable
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.rate_limits import limited_request
from meshline.resilience import ServiceClient, raise_for_problem
from meshline.service import KNOWLEDGE_READ, KNOWLEDGE_WRITE, ServiceTokenIssuer

router = APIRouter(prefix="/v1", tags=["knowledge"])
Ingester = Annotated[Principal, Depends(limited_request("ingest"))]
CollectionName = Annotated[str, Path(pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")]
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


@dataclass(frozen=True)
class Multipart:
    """A multipart body forwarded untouched (its boundary lives in the content type)."""

    body: bytes
    content_type: str


class KnowledgeBaseProxy:
    """Forwards knowledge-base calls to the memory service with a tenant-scoped service token,
    each given ``timeout_s``."""

    def __init__(self, client: ServiceClient, issuer: ServiceTokenIssuer, memory_url: str, *, timeout_s: float) -> None:
        self.client = client
        self.issuer = issuer
        self.memory_url = memory_url.rstrip("/")
        self.timeout_s = timeout_s

    def token(self, principal: Principal, scope: str) -> str:
        user = acting_user(principal, None).user
        return self.issuer.issue(tenant=principal.tenant, user=user, scopes=[scope], audience="memory")

    async def forward(
        self,
        principal: Principal,
        method: str,
        path: str,
        json: JsonValue = None,
        multipart: Multipart | None = None,
    ) -> JsonValue:
        """One call to the memory service for the key's tenant: reads with ``knowledge:read``, the rest
        with ``knowledge:write``."""
        scope = KNOWLEDGE_READ if method == "GET" else KNOWLEDGE_WRITE
        response = await self.client.request(
            method,
            f"{self.memory_url}{path}",
            json=json,
            content=multipart.body if multipart else None,
            headers={"content-type": multipart.content_type} if multipart else None,
            token=self.token(principal, scope),
            timeout_s=self.timeout_s,
            idempotent=method in ("GET", "DELETE"),
        )
        raise_for_problem(response)
        answer: JsonValue = response.json() if response.content else None
        return answer


def _proxy(request: Request) -> KnowledgeBaseProxy:
    proxy: KnowledgeBaseProxy = request.app.state.kb_proxy
    return proxy


@router.post("/collections/{name}/documents", status_code=202, response_model=JobAccepted)
async def ingest_documents(name: CollectionName, request: Request, principal: Ingester) -> JSONResponse:
    """Queue documents for ingestion into the key's tenant's collection; 202 with the job.

    The body is JSON (``IngestRequest``) or multipart files (parts named ``files``, optional
    ``metadata`` field), passed through to the memory service as they came."""
    content_type = request.headers.get("content-type", "")
    path = f"/v1/collections/{name}/documents"
    if content_type.startswith("multipart/form-data"):
        multipart = Multipart(await request.body(), content_type)
        answer = await _proxy(request).forward(principal, "POST", path, multipart=multipart)
    else:
        try:
            body = IngestRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            detail = f"invalid ingestion request: {exc.errors()[0]['msg']}"
            raise Unprocessable(detail, code="invalid_documents") from exc
        answer = await _proxy(request).forward(principal, "POST", path, body.model_dump(exclude_none=True))
    accepted = JobAccepted.model_validate(answer)
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": accepted.status_url})


@router.get("/jobs/{job_id}", response_model=JobStatus)
async def job_status(job_id: JobId, request: Request, principal: Ingester) -> JobStatus:
    """Progress of an ingestion job of the key's tenant."""
    return JobStatus.model_validate(await _proxy(request).forward(principal, "GET", f"/v1/jobs/{job_id}"))


@router.get("/collections/{name}", response_model=CollectionInfo)
async def collection_info(name: CollectionName, request: Request, principal: Ingester) -> CollectionInfo:
    """How many chunks the key's tenant's collection holds."""
    return CollectionInfo.model_validate(await _proxy(request).forward(principal, "GET", f"/v1/collections/{name}"))


@router.delete("/collections/{name}", status_code=204)
async def delete_collection(name: CollectionName, request: Request, principal: Ingester) -> Response:
    """Delete the key's tenant's collection with every chunk (404 problem+json when there is none)."""
    await _proxy(request).forward(principal, "DELETE", f"/v1/collections/{name}")
    return Response(status_code=204)


@router.delete("/collections/{name}/documents/{document_id:path}", status_code=204)
async def delete_document(name: CollectionName, document_id: str, request: Request, principal: Ingester) -> Response:
    """Delete one document of the key's tenant's collection (404 problem+json when it has no chunks)."""
    path = f"/v1/collections/{name}/documents/{quote(document_id, safe='')}"
    await _proxy(request).forward(principal, "DELETE", path)
    return Response(status_code=204)
