"""User memories shared by all agents (memory service ``/v1/memories``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class MemoryWrite(BaseModel):
    """A memory to store for the caller (tenant and user come from the service token)."""

    text: str = Field(min_length=1, max_length=8000)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)
    id: str | None = Field(default=None, max_length=200)


class MemorySearch(BaseModel):
    query: str = Field(min_length=1, max_length=8000)
    k: int = Field(default=5, ge=1, le=50)


class MemoryHit(BaseModel):
    id: str
    text: str
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)
