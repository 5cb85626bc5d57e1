"""Bodies of the memory service's own endpoints (shared wire models live in meshline.contracts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from meshline.contracts.memory import MemoryHit

MAX_EMBED_INPUTS = 256
MAX_EMBED_CHARS = 8000

EmbedText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EMBED_CHARS)]


class MemoryAccepted(BaseModel):
    id: str
    status: Literal["queued", "stored"]


class MemorySearchResult(BaseModel):
    hits: list[MemoryHit]


class StoredMemory(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class MemoryExport(BaseModel):
    memories: list[StoredMemory]


class MemoriesDeleted(BaseModel):
    deleted: int


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
