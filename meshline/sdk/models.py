"""Response models of the orchestrator's management API (chat models live in meshline.contracts)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from meshline.contracts import ApiKey, ApiKeyInfo
from meshline.json_types import JsonObject

__all__ = ["ApiKey", "ApiKeyInfo", "Readiness", "ServiceInfo", "ServiceInstance"]


class ServiceInstance(BaseModel):
    """One replica of a registered service and what its last health probe found."""

    model_config = ConfigDict(extra="allow")

    url: str
    healthy: bool = True
    last_error: str | None = None
    checked_at: float = 0.0
    in_flight: int = Field(default=0, description="Calls in flight to it from the orchestrator answering.")


class AgentInfo(BaseModel):
    """An agent a chat turn can be routed to, as a tenant sees it (``GET /v1/agents``)."""

    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""


class ServiceInfo(BaseModel):
    """A registered agent or tool service with its instances."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str = ""
    description: str = ""
    version: str = ""
    manifest: JsonObject | None = None
    instances: list[ServiceInstance] = Field(default_factory=list)
    breaker: str | None = Field(default=None, description="closed, half_open or open (agents only).")
    in_flight: int = 0
    max_concurrent: int | None = None

    @property
    def healthy_count(self) -> int:
        return sum(1 for i in self.instances if i.healthy)


class Readiness(BaseModel):
    """The orchestrator's ``/readyz`` answer."""

    model_config = ConfigDict(extra="allow")

    ready: bool
    status: str = ""
    checks: dict[str, str] = Field(default_factory=dict)
