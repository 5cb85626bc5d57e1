"""``AgentSettings``: what every agent service is configured with, besides the mesh's own settings."""

from __future__ import annotations

from pydantic import Field

from meshline.service import ServiceSettings


class AgentSettings(ServiceSettings):
    """Base of an agent's settings; a subclass sets ``env_prefix``, ``name`` and ``port``."""

    llm_timeout_s: float = Field(default=120.0, gt=0, description="Budget of one LLM-layer call.")
    llm_health_timeout_s: float = Field(
        default=1.5, gt=0, description="Budget of the readiness probe of the LLM layer (its /healthz)."
    )
    search_timeout_s: float = Field(default=5.0, gt=0, description="Budget of one knowledge-base search.")
