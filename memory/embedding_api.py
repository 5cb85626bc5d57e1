"""``POST /v1/embeddings``: the service's embedding model over HTTP (OpenAI-style), for the router.

Shared by both domains: any memory-audience token may call it, since embeddings reveal no data.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StringConstraints

from meshline.embeddings import Embedder
from meshline.service import Identity, require_identity

MAX_EMBED_INPUTS = 256
MAX_EMBED_CHARS = 8000

EmbedText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EMBED_CHARS)]
router = APIRouter(prefix="/v1", tags=["memory"])
Caller = Annotated[Identity, Depends(require_identity())]


class EmbeddingRequest(BaseModel):
    """OpenAI-style: one text or a list of texts."""

    input: EmbedText | Annotated[list[EmbedText], Field(min_length=1, max_length=MAX_EMBED_INPUTS)]

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float]


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    data: list[EmbeddingItem]


@router.post("/embeddings", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, request: Request, caller: Caller) -> EmbeddingResponse:
    """Normalised embeddings of ``input`` with the service's model (OpenAI-style response)."""
    embedder: Embedder = request.app.state.embedder
    vectors = await embedder.embed(body.texts())
    return EmbeddingResponse(
        model=embedder.model, data=[EmbeddingItem(index=i, embedding=v) for i, v in enumerate(vectors)]
    )
