"""Settings of the CRM tool service (``MESHLINE_CRM_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshline.tools.kit.settings import ToolServiceSettings


class CRMSettings(ToolServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_CRM_", extra="ignore")

    name: str = "crm"
    port: int = 8300
    seed: int = Field(default=7, description="Seed of the demo data; the same as commerce's keeps names in step.")
    demo_customers: int = Field(default=300, ge=0, le=100_000)
