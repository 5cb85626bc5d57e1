"""Settings of the LLM layer (``MESHLINE_LLM_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from meshline.service.settings import ServiceSettings


class LlmSettings(ServiceSettings):
    """Where the model config lives, and a one-setting override for a real provider."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_LLM_", extra="ignore")

    name: str = "llm"
    port: int = 8100
    config: Path = Field(default=Path("meshline.yaml"), description="Mesh config file with the `models:` section.")
    model: str | None = Field(
        default=None,
        description="litellm model string (e.g. openai/gpt-4o-mini) the `default` alias points at instead of "
        "the config's deployments; the provider key comes from its usual env var (OPENAI_API_KEY, ...).",
    )
    api_base: str | None = Field(default=None, description="API base URL for the `model` override.")
    api_key: SecretStr | None = Field(
        default=None, description="Key for the `model` override when the provider's own env var is not used."
    )
    request_timeout_s: float = Field(default=60.0, gt=0, description="Per-call provider timeout.")
    num_retries: int = Field(default=1, ge=0, le=10, description="Router retries of a failed provider call.")
