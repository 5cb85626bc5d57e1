"""User memories shared by all agents (memory service ``/v1/memories``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

MetadataScalar = str | int | float | bool
"""A metadata value a caller may write: Chroma keeps flat metadata of scalars."""
StoredMetadata = dict[str, MetadataScalar | None]
"""Metadata as read back from the store (Chroma may answer a missing value with null)."""


class MemoryWrite(BaseModel):
    """A memory to store for the caller (tenant and user come from the service token)."""

    text: str = Field(min_length=1, max_length=8000)
    metadata: dict[str, MetadataScalar] = Field(default_factory=dict)
    id: str | None = Field(default=None, max_length=200)


class MemorySearch(BaseModel):
    query: str = Field(min_length=1, max_length=8000)
    k: int = Field(default=5, ge=1, le=50)


class MemoryHit(BaseModel):
    id: str
    text: str
    score: float
    metadata: StoredMetadata = Field(default_factory=dict)
