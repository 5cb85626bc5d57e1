"""HTTP API of the LLM layer: OpenAI-compatible chat completions and the model list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from meshline.agents.llm.completions import CompletionJob, call_timeout, complete, open_stream
from meshline.agents.llm.gateway import ModelGateway
from meshline.agents.llm.response_cache import decide
from meshline.agents.llm.schemas import CompletionRequest, ModelCard, ModelList
from meshline.agents.llm.settings import LlmSettings
from meshline.service import LLM_CALL, Identity, require_identity

router = APIRouter(prefix="/v1", tags=["llm"])
THREAD_HEADER = "x-meshline-thread"
AGENT_HEADER = "x-meshline-agent"
UNKNOWN_AGENT = "-"
Caller = Annotated[Identity, Depends(require_identity(LLM_CALL))]


def gateway_of(request: Request) -> ModelGateway:
    gateway: ModelGateway = request.app.state.gateway
    return gateway


def sticky_key(request: Request, body: CompletionRequest, identity: Identity) -> str:
    """What keeps a conversation on one version: its thread, else the OpenAI ``user``, else the user."""
    return request.headers.get(THREAD_HEADER) or body.user or f"{identity.tenant}\x1f{identity.user}"


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: CompletionRequest, request: Request, identity: Caller
) -> JSONResponse | StreamingResponse:
    """OpenAI ``chat.completions``: JSON, or SSE chunks ending in ``data: [DONE]`` when ``stream`` is true.

    ``X-Meshline-Thread`` pins a conversation to one version; ``Cache-Control: no-cache`` or
    ``"cache": false`` bypasses the response cache, ``"cache": true`` caches a sampled request.
    The answer names the version that served it in ``X-Meshline-Model-Version``.
    """
    gateway = gateway_of(request)
    settings: LlmSettings = request.app.state.settings
    chain = gateway.plan(body.model, sticky_key(request, body, identity))
    params = body.provider_kwargs()
    params["timeout"] = call_timeout(settings.request_timeout_s)
    if body.stream and body.stream_options:
        params["stream_options"] = body.stream_options
    job = CompletionJob(
        tenant=identity.tenant,
        agent=request.headers.get(AGENT_HEADER) or UNKNOWN_AGENT,
        alias=body.model,
        messages=body.provider_messages(),
        params=params,
        chain=chain,
        limits=gateway.config.llm.limits_for(identity.tenant),
        cache=decide(body.cache, request.headers.get("cache-control"), body.temperature, body.stream),
        cache_ttl_s=settings.cache_ttl_s,
        instance=request.url.path,
    )
    if body.stream:
        return await open_stream(gateway, request.app.state.redis, job)
    return await complete(gateway, request.app.state.redis, job)


@router.get("/models", dependencies=[Depends(require_identity(LLM_CALL))])
async def list_models(request: Request) -> ModelList:
    """The aliases in OpenAI's list format, with each one's stable version and deployment count."""
    registry = gateway_of(request).registry
    data = [
        ModelCard(id=alias, stable=state.stable, deployments=len(state.versions[state.stable].deployments))
        for alias, state in registry.aliases.items()
    ]
    return ModelList(data=data)
