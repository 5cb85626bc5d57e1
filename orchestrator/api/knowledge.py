"""Knowledge-base ingestion through the orchestrator: a thin proxy to the memory service.

``POST /v1/collections/{name}/documents``, ``GET /v1/jobs/{id}`` and ``GET /v1/collections/{name}``
need an API key with the ``ingest`` scope. The call is forwarded with a service token for the
key's tenant (audience ``memory``, scope ``ingest``), so the memory service, not the body,
decides whose collection it is. Bodies are JSON (the SDK turns files into JSON documents).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from meshline.contracts.knowledge import CollectionInfo, IngestRequest, JobAccepted, JobStatus
from meshline.orchestrator.auth import Principal, require_scope
from meshline.resilience.client import ServiceClient, raise_for_problem
from meshline.service.auth import ServiceTokenIssuer

router = APIRouter(prefix="/v1", tags=["knowledge"])
Ingester = Annotated[Principal, Depends(require_scope("ingest"))]
CollectionName = Annotated[str, Path(pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")]
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
FORWARD_TIMEOUT_S = 30.0


class KnowledgeProxy:
    """Forwards knowledge-base calls to the memory service with a tenant-scoped service token."""

    def __init__(self, client: ServiceClient, issuer: ServiceTokenIssuer, memory_url: str) -> None:
        self.client = client
        self.issuer = issuer
        self.memory_url = memory_url.rstrip("/")

    def token(self, principal: Principal) -> str:
        user = principal.user or f"key:{principal.key_id}"
        return self.issuer.issue(tenant=principal.tenant, user=user, scopes=["ingest"], audience=["memory"])

    async def forward(self, principal: Principal, method: str, path: str, json: Any = None) -> Any:
        response = await self.client.request(
            method,
            f"{self.memory_url}{path}",
            json=json,
            token=self.token(principal),
            timeout_s=FORWARD_TIMEOUT_S,
            idempotent=method == "GET",
        )
        raise_for_problem(response)
        return response.json()


def _proxy(request: Request) -> KnowledgeProxy:
    proxy: KnowledgeProxy = request.app.state.knowledge_proxy
    return proxy


@router.post("/collections/{name}/documents", status_code=202, response_model=JobAccepted)
async def ingest_documents(
    name: CollectionName, body: IngestRequest, request: Request, principal: Ingester
) -> JSONResponse:
    """Queue documents for ingestion into the key's tenant's collection; 202 with the job."""
    payload = body.model_dump(exclude_none=True)
    accepted = JobAccepted.model_validate(
        await _proxy(request).forward(principal, "POST", f"/v1/collections/{name}/documents", payload)
    )
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": accepted.status_url})


@router.get("/jobs/{job_id}", response_model=JobStatus)
async def job_status(job_id: JobId, request: Request, principal: Ingester) -> JobStatus:
    """Progress of an ingestion job of the key's tenant."""
    return JobStatus.model_validate(await _proxy(request).forward(principal, "GET", f"/v1/jobs/{job_id}"))


@router.get("/collections/{name}", response_model=CollectionInfo)
async def collection_info(name: CollectionName, request: Request, principal: Ingester) -> CollectionInfo:
    """How many chunks the key's tenant's collection holds."""
    return CollectionInfo.model_validate(await _proxy(request).forward(principal, "GET", f"/v1/collections/{name}"))
