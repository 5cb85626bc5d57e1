"""Settings of the commerce tool service (``MESHLINE_COMMERCE_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshline.tools.kit.settings import ToolServiceSettings


class CommerceSettings(ToolServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_COMMERCE_", extra="ignore")

    name: str = "commerce-tools"  # not "commerce": that is the agent, and names are unique in the registry
    port: int = 8301
    seed: int = Field(default=7, description="Seed of the demo store generated on first start.")
    demo_customers: int = Field(default=300, ge=0, le=100_000)
