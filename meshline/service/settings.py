"""Settings shared by the whole mesh (``MESHLINE_*``) and the base of each service's own settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_networks(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


NetworkList = Annotated[list[IPvAnyNetwork], NoDecode, BeforeValidator(_split_networks)]
"""CIDRs from the environment, comma-separated or a JSON list (the address guard's allow-list)."""


class MeshSettings(BaseSettings):
    """Where the shared infrastructure is and how services trust each other."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_", extra="ignore")

    home: Path = Field(default=Path(".meshline"), description="Local state: keys, SQLite, Chroma, logs.")
    redis_url: str = "redis://127.0.0.1:6379/0"
    llm_url: str = "http://127.0.0.1:8100"
    memory_url: str = "http://127.0.0.1:8200"
    orchestrator_url: str = "http://127.0.0.1:8000"
    token_public_key: str | None = Field(default=None, description="PEM Ed25519 key that verifies service tokens.")
    token_previous_public_key: str | None = Field(
        default=None,
        description="During a signing-key rotation: the old public key, still accepted until tokens it "
        "verified have expired (token_ttl_s after the orchestrators switched keys).",
    )
    token_private_key: SecretStr | None = Field(default=None, description="PEM Ed25519 key (orchestrator only).")
    token_ttl_s: int = Field(
        default=120, ge=10, le=3600, description="Lifetime of a service token: one turn, its retries and fallbacks."
    )
    token_leeway_s: float = Field(default=5.0, ge=0, le=60, description="Clock skew tolerated between services.")
    http_timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # The surface besides the API (issue 11): closed unless configured.
    metrics_token: SecretStr | None = Field(
        default=None, description="If set, GET /metrics answers only `Authorization: Bearer <this>` (401 otherwise)."
    )
    docs: bool = Field(default=False, description="Serve /docs, /redoc and /openapi.json (`meshline up` turns it on).")
    log_format: Literal["text", "json"] = Field(
        default="text", description="`json`: one JSON object per log line (service, trace_id, tenant included)."
    )

    def public_key_pem(self) -> str | None:
        """The verifying key: from settings, else the one ``meshline up`` generated under ``home``."""
        if self.token_public_key:
            return self.token_public_key
        path = self.home / "keys" / "service_token.pub.pem"
        return path.read_text() if path.exists() else None

    def public_key_pems(self) -> list[str]:
        """Every key a service token may be verified with: the current one, then the previous one."""
        current = self.public_key_pem()
        return [k for k in (current, self.token_previous_public_key) if k]

    def private_key_pem(self) -> str | None:
        """The signing key (orchestrator only): settings first, then ``home/keys``."""
        if self.token_private_key:
            return self.token_private_key.get_secret_value()
        path = self.home / "keys" / "service_token.pem"
        return path.read_text() if path.exists() else None


class ServiceSettings(BaseSettings):
    """Base of every service's settings; subclasses set ``env_prefix = MESHLINE_<SERVICE>_``."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_SERVICE_", extra="ignore")

    name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8000
    mesh: MeshSettings = Field(default_factory=MeshSettings)
    readiness_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long one /readyz dependency check may take before it counts as failed.",
    )
