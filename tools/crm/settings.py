"""Settings of the CRM tool service (``MESHLINE_CRM_*``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meshline.tools.kit import DemoStoreSettings


class CRMSettings(DemoStoreSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_CRM_", extra="ignore")

    name: str = "crm"
    port: int = 8300
