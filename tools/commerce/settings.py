"""Settings of the commerce tool service (``MESHLINE_COMMERCE_*``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meshline.tools.kit import DemoStoreSettings


class CommerceSettings(DemoStoreSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_COMMERCE_", extra="ignore")

    name: str = "commerce-tools"  # not "commerce": that is the agent, and names are unique in the registry
    port: int = 8301
