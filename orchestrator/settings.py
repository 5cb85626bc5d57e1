"""Orchestrator settings (``MESHLINE_ORCHESTRATOR_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from meshline.embeddings import LOCAL_EMBEDDING_MODEL, EmbeddingSettings
from meshline.service import NetworkList, ServiceSettings


class TenantLimitOverride(BaseModel):
    """The platform's limits for one tenant (``tenant_limits``); a field left out keeps the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit_rps: float | None = Field(default=None, gt=0)
    max_concurrent_turns: int | None = Field(default=None, ge=1)


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
    min_turn_timeout_s: float = Field(
        default=4.0,
        gt=0,
        description="Shortest `timeout_s` (or X-Meshline-Deadline) a turn accepts, else 422 timeout_out_of_range: "
        "the dispatch reserve (1 s) + the time a fallback needs (2 s) + at least 1 s for the agent itself.",
    )
    max_turn_timeout_s: float = Field(
        default=300.0, gt=0, le=600, description="Longest `timeout_s` a turn accepts (the chat contract's cap is 600)."
    )
    history_messages: int = Field(default=20, ge=0, description="Earlier messages of the thread sent to the agent.")
    recall_k: int = Field(default=5, ge=0, le=50)
    default_agent: str = "general"
    health_interval_s: float = Field(default=5.0, gt=0)
    route_threshold: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Example-vote confidence at which the LLM is not asked."
    )
    route_k: int = Field(default=10, ge=1, le=100, description="Nearest routing examples that vote.")
    route_temperature: float = Field(default=0.05, gt=0, description="Vote weight exp((sim - best) / T).")
    route_min_similarity: float = Field(default=0.3, ge=-1.0, le=1.0, description="Below this no example votes.")
    route_switch_confidence: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Confidence a follow-up needs to leave the thread's agent."
    )
    route_llm_model: str = Field(default="default", description="LLM alias asked when the examples are unsure.")
    route_llm_timeout_s: float = Field(default=3.0, gt=0, description="Then the default agent answers.")
    route_use_llm: bool = True
    route_embedding_model: str = Field(
        default=LOCAL_EMBEDDING_MODEL, description="'local' (bundled MiniLM) or a litellm model."
    )
    route_embedding_api_base: str | None = Field(default=None, description="A litellm routing model's provider URL.")
    route_embedding_api_key: SecretStr | None = Field(default=None, description="A litellm routing model's key.")
    route_embedding_timeout_s: float = Field(default=30.0, gt=0, description="One litellm embedding call.")
    route_max_fitted_per_agent: int = Field(default=200, ge=0, description="Cap of `routes fit` examples per agent.")

    fallback_agents: dict[str, str] = Field(
        default_factory=lambda: {"commerce": "general", "account": "general", "knowledge": "general"},
        description="Agent -> the agent that answers, told what is unavailable, when it cannot (JSON).",
    )
    agent_timeouts_s: dict[str, float] = Field(
        default_factory=dict,
        description="Agent -> seconds its call may take within a turn (JSON); the turn's deadline still caps it.",
    )
    dispatch_reserve_s: float = Field(
        default=1.0, ge=0, description="Kept back from the turn's deadline to answer degraded and save the turn."
    )
    breaker_window_s: int = Field(default=30, ge=1, description="Sliding window of the agents' breakers.")
    breaker_min_calls: int = Field(default=10, ge=1, description="Calls in the window before a breaker may open.")
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1, description="Failure share that opens it.")
    breaker_cooldown_s: float = Field(default=10.0, gt=0, description="Open this long, then half-open.")
    breaker_half_open_probes: int = Field(default=1, ge=1)
    bulkhead_max_concurrent: int = Field(default=32, ge=1, description="Calls in flight per agent.")
    bulkhead_max_wait_s: float = Field(default=0.5, ge=0, description="Wait for a slot, then 503.")
    pending_ttl_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="Seconds a side effect an agent asked the user to confirm stays open, counted from the "
        "question; then a yes runs nothing (the agent asks again). A turn that goes to another agent closes it.",
    )
    bulkhead_tenant_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of an agent's slots (per orchestrator process) one tenant may hold, at least one "
        "slot; waiters are served round-robin across tenants. 1 turns the share off.",
    )

    # Public API limits (orchestrator/rate_limits.py). Defaults sized for `meshline up` on 2 cores, which serve
    # ~25-30 turns/s in all (bench/results/failover.json): one tenant at its limit takes about a third of that.
    tenant_rate_limit_rps: float = Field(
        default=10.0, gt=0, description="Requests per second one tenant may make (chat and knowledge endpoints)."
    )
    tenant_max_concurrent_turns: int = Field(default=8, ge=1, description="Chat turns one tenant may run at once.")
    key_rate_limit_rps: float = Field(
        default=10.0, gt=0, description="Requests per second one API key may make, unless its record says otherwise."
    )
    key_max_concurrent_turns: int = Field(
        default=4, ge=1, description="Chat turns one API key may run at once, unless its record says otherwise."
    )
    rate_limit_burst_s: float = Field(
        default=1.0, gt=0, description="Bucket size in seconds of the rate: a quiet key may send rps x this at once."
    )
    tenant_limits: dict[str, TenantLimitOverride] = Field(
        default_factory=dict,
        description='Per-tenant limits set by the platform (JSON), e.g. {"acme": {"rate_limit_rps": 50}}.',
    )
    admin_rate_limit_rps: float = Field(
        default=100.0, gt=0, description="Per platform-admin key: admins are not held to tenant limits, only this."
    )
    admin_max_concurrent_turns: int = Field(default=32, ge=1, description="Per platform-admin key.")
    turn_lease_s: float = Field(
        default=30.0,
        ge=1,
        description="A concurrent-turn slot expires this long after its last renewal (renewed every third of it "
        "while the turn runs), so a crashed replica's slots come back.",
    )
    turn_slot_wait_s: float = Field(
        default=0.5,
        ge=0,
        description="A turn that finds its key's or tenant's turns all running waits this long for one to end, "
        "then 429 too_many_concurrent_turns.",
    )
    limits_redis_timeout_s: float = Field(
        default=0.25, gt=0, description="Limiter round trip to Redis; then this process limits on its own."
    )
    metrics_max_tenants: int = Field(
        default=20, ge=0, description="Tenants with their own label in the limit metrics; the rest are '(other)'."
    )

    registry_allow_networks: NetworkList = Field(
        default_factory=list,
        description="CIDRs that registered service URLs may lead to although they are private or special-purpose "
        "(comma-separated or a JSON list), e.g. '127.0.0.0/8,::1/128' for `meshline up`, the service "
        "network in compose/k8s. Everything else non-public is refused on every connection, the "
        "calls to registered agents included.",
    )

    # Timeouts of the calls the orchestrator makes while serving a request.
    registry_probe_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="One HTTP call of the registry to a service: its manifest at registration, a health check.",
    )
    registry_resolve_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="DNS lookup of a registered service's host before each connection."
    )
    mcp_list_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Listing an MCP server's tools when it is registered."
    )
    mcp_probe_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Opening an MCP session to check a registered MCP server's health."
    )
    memory_recall_timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Recall before routing; then the turn goes on with nothing recalled."
    )
    memory_remember_timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Remembering the answered turn; then it is not remembered."
    )
    knowledge_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="One knowledge-base call forwarded to the memory service."
    )
    models_admin_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="One model-admin or usage call forwarded to the LLM layer."
    )
    keys_db_timeout_s: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="One key-store query; then a key the cache confirmed is still served, an unknown one is 503.",
    )
    keys_db_connect_timeout_s: int = Field(
        default=3,
        gt=0,
        le=60,
        description="Postgres key store: connecting, and waiting for a pooled connection (whole seconds: libpq).",
    )

    @model_validator(mode="after")
    def _turn_timeouts_fit(self) -> OrchestratorSettings:
        if not self.dispatch_reserve_s < self.min_turn_timeout_s <= self.max_turn_timeout_s:
            raise ValueError("need dispatch_reserve_s < min_turn_timeout_s <= max_turn_timeout_s")
        return self

    def route_embedding(self) -> EmbeddingSettings:
        """The router's encoder (``MESHLINE_ORCHESTRATOR_ROUTE_EMBEDDING_*``; never the memory service's settings)."""
        return EmbeddingSettings(
            model=self.route_embedding_model,
            api_base=self.route_embedding_api_base,
            api_key=self.route_embedding_api_key,
            timeout_s=self.route_embedding_timeout_s,
        )

    def checkpoint_file(self) -> Path:
        return self.checkpoint_path or (self.mesh.home / "threads.sqlite")
