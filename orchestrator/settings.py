"""Orchestrator settings (``MESHLINE_ORCHESTRATOR_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from meshline.service.settings import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_ORCHESTRATOR_", extra="ignore")

    name: str = "orchestrator"
    port: int = 8000
    admin_key: SecretStr | None = Field(default=None, description="Bootstrap key with every scope.")
    admin_tenant: str = "default"
    database_url: str | None = Field(default=None, description="Postgres URL: use LangGraph's Postgres saver.")
    checkpoint_path: Path | None = Field(
        default=None, description="SQLite checkpoints (default: <home>/threads.sqlite)."
    )
    max_message_chars: int = Field(default=16_000, ge=1)
    turn_timeout_s: float = Field(default=120.0, gt=0, description="Default deadline of one chat turn.")
    history_messages: int = Field(default=20, ge=0, description="Earlier messages of the thread sent to the agent.")
    recall_k: int = Field(default=5, ge=0, le=50)
    default_agent: str = "general"
    health_interval_s: float = Field(default=5.0, gt=0)
    route_threshold: float = Field(default=0.2, ge=0.0, le=1.0)

    def checkpoint_file(self) -> Path:
        return self.checkpoint_path or (self.mesh.home / "threads.sqlite")
