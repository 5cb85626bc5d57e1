"""Settings of the knowledge (retrieval) agent (``MESHLINE_RETRIEVAL_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshline.agents.kit import AgentSettings


class RetrievalSettings(AgentSettings):
    """Which collection to search, how many passages to show the model, and when to say "I don't know"."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_RETRIEVAL_", extra="ignore")

    name: str = "knowledge"
    port: int = 8101
    collection: str = Field(default="default", description="Knowledge-base collection of the caller's tenant.")
    k: int = Field(default=4, ge=1, le=20, description="Passages given to the model.")
    min_score: float = Field(
        default=0.28,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity the best passage must reach; below it the agent says it does not know "
        "(calibrated on held-out questions, see DESIGN.md).",
    )
    model: str = Field(default="default", description="Model alias in the LLM layer.")
    max_tokens: int | None = Field(default=400, ge=1)
    temperature: float | None = Field(default=0.0, ge=0.0, le=2.0)
