"""Bodies of the user-memory endpoints that only the memory service speaks (shared wire models
live in :mod:`meshline.contracts.memory`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from meshline.contracts import MemoryHit, StoredMetadata


class MemoryAccepted(BaseModel):
    id: str
    status: Literal["queued", "stored"]


class MemorySearchResult(BaseModel):
    hits: list[MemoryHit]


class StoredMemory(BaseModel):
    id: str
    text: str
    metadata: StoredMetadata = Field(default_factory=dict)


class MemoryExport(BaseModel):
    memories: list[StoredMemory]


class MemoriesDeleted(BaseModel):
    deleted: int
