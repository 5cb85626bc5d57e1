"""The LLM layer's admin and usage answers (wire contracts: the LLM layer sends them, the CLI reads them)."""

from __future__ import annotations

from typing import TypedDict

from pydantic import BaseModel, ConfigDict

from meshline.json_types import JsonObject


class DeploymentView(BaseModel):
    """A deployment as a listing shows it: never its key, nor the key's reference."""

    model: str
    api_base: str | None
    params: JsonObject


class SharedHealth(BaseModel):
    """A version's last minute across every replica (from the ledger's shared counters)."""

    requests: int
    error_rate: float
    mean_latency_ms: float


class ReplicaHealth(BaseModel):
    """A version's health window in this replica."""

    requests: int
    error_rate: float


class VersionHealth(BaseModel):
    last_minute: SharedHealth
    this_replica: ReplicaHealth


class VersionListing(BaseModel):
    version: str
    status: str
    weight: int
    deployments: list[DeploymentView]
    system_prompt: bool
    note: str | None
    cooling_down_s: float
    health: VersionHealth


class RegistryEvent(BaseModel):
    """One history entry: who made which change to which alias; the change's details ride along."""

    model_config = ConfigDict(extra="allow")

    at: float
    who: str
    action: str
    alias: str
    revision: int


ChangeDetail = TypedDict(
    "ChangeDetail",
    {"version": str, "models": list[str], "canary": int, "from": str | None, "reason": str, "source": str},
    total=False,
)
"""What a registry change records beside who, what and when: the version, its models and canary
share (deploy), the stable version left (rollback), why (auto-rollback), the config file (seed).
``from`` is a keyword, hence the functional form."""


class AliasListing(BaseModel):
    alias: str
    stable: str
    previous: list[str]
    fallbacks: list[str]
    versions: list[VersionListing]
    events: list[RegistryEvent]


class RegistryListing(BaseModel):
    """``GET /v1/admin/models`` and the answer to every change."""

    revision: int
    aliases: list[AliasListing]


class HistoryListing(BaseModel):
    history: list[RegistryEvent]


class UsageCounts(BaseModel):
    """Exact counters (cost in nano-dollars) and what is derived from them."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_nano_usd: int
    cache_hits: int
    total_tokens: int
    cost_usd: float


class UsageRow(UsageCounts):
    agent: str
    alias: str
    version: str


class UsageReport(BaseModel):
    """``GET /v1/usage``: one row per (agent, alias, version) and the totals; ``tenants`` for an admin."""

    tenant: str
    rows: list[UsageRow]
    total: UsageCounts
    tenants: list[str] | None = None
