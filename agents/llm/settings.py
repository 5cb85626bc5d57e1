"""Settings of the LLM layer (``MESHLINE_LLM_*``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from meshline.service import ServiceSettings


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
    provider_key_vars: str = Field(
        default=r"[A-Z][A-Z0-9_]*_API_KEY",
        description="Regex (full match) of the environment variables an admin-deployed version may take its "
        "api_key from (`os.environ/NAME`); literal keys are never accepted.",
    )
    request_timeout_s: float = Field(default=60.0, gt=0, description="Per-call provider timeout.")
    models_probe_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="/readyz: how long each deployment of the `default` alias has to answer GET {api_base}/models.",
    )
    num_retries: int = Field(default=1, ge=0, le=10, description="Router retries of a failed provider call.")
    cache_ttl_s: int = Field(default=3600, ge=1, description="How long a cached response is served.")
    registry_poll_s: float = Field(default=0.25, gt=0, le=5, description="How often replicas check for changes.")
    rollback_window_s: float = Field(default=60.0, gt=0, description="Window of a canary's health judgement.")
    rollback_min_requests: int = Field(default=10, ge=1, description="Calls a canary needs before it is judged.")
    rollback_max_error_rate: float = Field(default=0.5, ge=0, le=1, description="Canary error rate rolled back.")
    rollback_max_p95_latency_s: float = Field(default=20.0, gt=0, description="Canary p95 latency rolled back.")
    cooldown_failures: int = Field(default=3, ge=1, description="Failures in the window that cool a group down.")
    cooldown_window_s: float = Field(default=30.0, gt=0)
    cooldown_s: float = Field(default=15.0, gt=0, description="How long a cooled-down group is skipped.")
    endpoint_limits: dict[str, Annotated[int, Field(ge=1, le=1024)]] = Field(
        default_factory=dict,
        description="JSON object: a deployment's api_base -> how many calls this process sends it at once; the "
        "others queue here in arrival order (a stream holds its slot until it ends). For servers that generate "
        "one request at a time, such as the bundled llama-cpp-python server (`meshline up` sets it to 1). It "
        "applies to versions whose deployments all share that api_base.",
    )
    endpoint_queue_s: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="How long a call waits for a slot of a limited endpoint (cut shorter by the request's "
        "deadline) before a 503 `bulkhead_full` with Retry-After.",
    )

    def environment(self) -> Mapping[str, str]:
        """The process environment, which the config's ``${NAME}`` / ``os.environ/NAME`` references
        and the provider keys of admin-deployed versions resolve against (read live: a key set
        after startup is seen by the next call that needs it)."""
        return os.environ
