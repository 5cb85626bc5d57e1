"""HTTP API of the LLM layer: OpenAI-compatible chat completions and the model list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from meshline.agents.llm.completions import call_timeout, complete, open_stream
from meshline.agents.llm.model_router import ModelCatalog
from meshline.agents.llm.schemas import CompletionRequest
from meshline.agents.llm.settings import LlmSettings
from meshline.service.auth import require_identity

router = APIRouter(prefix="/v1", tags=["llm"], dependencies=[Depends(require_identity())])


def _catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: CompletionRequest, request: Request) -> JSONResponse | StreamingResponse:
    """OpenAI ``chat.completions``: JSON, or SSE chunks ending in ``data: [DONE]`` when ``stream`` is true."""
    catalog = _catalog(request)
    catalog.require(body.model)
    settings: LlmSettings = request.app.state.settings
    params = body.provider_kwargs()
    params["timeout"] = call_timeout(settings.request_timeout_s)
    messages = body.provider_messages()
    if body.stream:
        if body.stream_options:
            params["stream_options"] = body.stream_options
        stream: StreamingResponse = await open_stream(catalog.router, body.model, messages, request.url.path, **params)
        return stream
    return JSONResponse(await complete(catalog.router, body.model, messages, **params))


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    """The configured aliases in OpenAI's list format, with how many deployments serve each."""
    models: dict[str, Any] = _catalog(request).model_list()
    return models
