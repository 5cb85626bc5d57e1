"""The model registry's data: aliases -> versioned deployments with traffic weights, and its rules.

Pure data and pure transitions (deploy, promote, rollback, automatic rollback); storing them
in Redis and telling every replica is :mod:`meshline.agents.llm.model_registry`'s job.

Weights are percentages that add up to 100 per alias: the stable version gets what the canary
does not. One canary per alias at a time; deploying another retires the one before.
"""

from __future__ import annotations

import hashlib
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from meshline.agents.llm.config import Deployment, LlmConfig
from meshline.contracts import DeploymentView
from meshline.errors import Conflict, NotFound
from meshline.json_types import JsonObject

CONFIG_VERSION = "v1"
Status = Literal["stable", "canary", "retired", "rolled_back"]
BUCKETS = 10_000  # sticky assignment resolution: 0.01 % of traffic
# What a deployment's api_key may be in the registry: a reference, never a key (provider_keys.py).
ENV_KEY_PREFIX = "os.environ/"
CONFIG_KEY = "config"
KEY_REFERENCE = r"^(config|os\.environ/[A-Za-z_][A-Za-z0-9_]*)$"


class DeploymentSpec(BaseModel):
    """One provider deployment of a version; ``api_key`` is a reference to the key, never listed."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    api_base: str | None = Field(default=None, max_length=2000)
    api_key: str | None = Field(default=None, pattern=KEY_REFERENCE, description="os.environ/NAME or config.")
    params: JsonObject = Field(default_factory=dict)

    @field_validator("api_key", mode="before")
    @classmethod
    def _no_literal_key(cls, value: object) -> object:
        # A registry written before keys became references held literals: drop them on read
        # (the deployment then calls without a key) rather than refuse to load the registry.
        if isinstance(value, str) and value != CONFIG_KEY and not value.startswith(ENV_KEY_PREFIX):
            return None
        return value

    def litellm_params(self, alias: str, timeout_s: float, api_key: str | None) -> JsonObject:
        """The router's parameters, with ``api_key`` as resolved in this process."""
        key = SecretStr(api_key) if api_key is not None else None
        deployment = Deployment(alias=alias, model=self.model, api_base=self.api_base, api_key=key, params=self.params)
        return deployment.litellm_params(timeout_s)

    def public(self) -> DeploymentView:
        return DeploymentView(model=self.model, api_base=self.api_base, params=self.params)


class ModelVersion(BaseModel):
    """A version of an alias: its deployments, optional system prompt, weight and lifecycle state."""

    version: str
    deployments: list[DeploymentSpec] = Field(min_length=1)
    system_prompt: str | None = None
    weight: int = Field(default=0, ge=0, le=100)
    status: Status = "canary"
    source: Literal["config", "admin"] = "admin"
    created_at: float = Field(default_factory=time.time)
    note: str | None = None


class AliasState(BaseModel):
    stable: str
    previous: list[str] = Field(default_factory=list, description="Earlier stable versions, most recent last.")
    versions: dict[str, ModelVersion]

    def canary(self) -> ModelVersion | None:
        return next((v for v in self.versions.values() if v.status == "canary" and v.weight > 0), None)

    def serving(self) -> list[ModelVersion]:
        """Versions with traffic, stable first: the order sticky buckets are laid out in."""
        stable = self.versions[self.stable]
        return [stable, *(v for v in self.versions.values() if v.weight > 0 and v.version != self.stable)]

    def pick(self, alias: str, sticky_key: str) -> ModelVersion:
        """The version a conversation goes to: a hash of its key into the cumulative weights."""
        digest = hashlib.blake2b(f"{alias}\x1f{sticky_key}".encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest, "big") % BUCKETS
        edge = 0
        serving = self.serving()
        for version in reversed(serving):  # canaries first, so the stable version takes the remainder
            if version.version == self.stable:
                continue
            edge += version.weight * BUCKETS // 100
            if bucket < edge:
                return version
        return serving[0]

    def _rebalance(self) -> None:
        canary = self.canary()
        self.versions[self.stable].weight = 100 - (canary.weight if canary else 0)


class Registry(BaseModel):
    """Every alias; ``revision`` grows with each change so replicas know when to reload."""

    revision: int = 0
    aliases: dict[str, AliasState] = Field(default_factory=dict)

    def alias(self, name: str) -> AliasState:
        if name not in self.aliases:
            known = ", ".join(sorted(self.aliases))
            raise NotFound(f"no model alias {name!r}; configured aliases: {known}", code="unknown_model")
        return self.aliases[name]


def config_versions(config: LlmConfig) -> dict[str, list[DeploymentSpec]]:
    """The config's deployments per alias, as they become version ``v1``."""
    return {
        alias: [
            DeploymentSpec(
                model=d.model,
                api_base=d.api_base,
                api_key=CONFIG_KEY if d.api_key is not None else None,  # the key stays in the config's process
                params=d.params,
            )
            for d in deployments
        ]
        for alias, deployments in config.aliases().items()
    }


def seed(registry: Registry, config: LlmConfig) -> list[str]:
    """Add aliases new in the config as stable ``v1``; refresh ``v1`` where the config changed.

    Returns the aliases changed. Versions deployed through the admin API are left alone.
    """
    changed = []
    for alias, deployments in config_versions(config).items():
        state = registry.aliases.get(alias)
        if state is None:
            v1 = ModelVersion(
                version=CONFIG_VERSION, deployments=deployments, weight=100, status="stable", source="config"
            )
            registry.aliases[alias] = AliasState(stable=CONFIG_VERSION, versions={CONFIG_VERSION: v1})
            changed.append(alias)
            continue
        current = state.versions.get(CONFIG_VERSION)
        if current is not None and current.source == "config" and current.deployments != deployments:
            current.deployments = deployments
            changed.append(alias)
    return changed


def deploy(registry: Registry, alias: str, version: ModelVersion, canary_pct: int) -> None:
    """Add ``version`` to ``alias`` as the canary with ``canary_pct`` % of traffic."""
    state = registry.alias(alias)
    existing = state.versions.get(version.version)
    if existing is not None and existing.status == "stable":
        raise Conflict(f"{alias} {version.version} is the stable version; deploy a new version", code="version_exists")
    for other in state.versions.values():
        if other.status == "canary":
            other.status, other.weight = "retired", 0
    version.status, version.weight, version.source = "canary", canary_pct, "admin"
    state.versions[version.version] = version
    state._rebalance()


def promote(registry: Registry, alias: str, version: str) -> None:
    """Make ``version`` the stable one with all traffic; the old stable can be rolled back to."""
    state = registry.alias(alias)
    if version not in state.versions:
        raise NotFound(f"{alias} has no version {version!r}", code="unknown_version")
    if version == state.stable:
        raise Conflict(f"{alias} {version} is already stable", code="already_stable")
    old = state.versions[state.stable]
    old.status, old.weight = "retired", 0
    state.previous.append(state.stable)
    for other in state.versions.values():
        if other.status == "canary":
            other.status, other.weight = "retired", 0
    chosen = state.versions[version]
    chosen.status, chosen.note = "stable", None
    state.stable = version
    state._rebalance()


def rollback(registry: Registry, alias: str) -> str:
    """Take the canary out of traffic or, with none, go back to the previous stable version.

    Returns the version now stable.
    """
    state = registry.alias(alias)
    canary = state.canary()
    if canary is not None:
        canary.status, canary.weight = "rolled_back", 0
    elif state.previous:
        current = state.versions[state.stable]
        current.status, current.weight = "rolled_back", 0
        state.stable = state.previous.pop()
        state.versions[state.stable].status = "stable"
    else:
        raise Conflict(f"{alias} has no canary and no earlier stable version", code="nothing_to_roll_back")
    state._rebalance()
    return state.stable


def auto_rollback(registry: Registry, alias: str, version: str, reason: str) -> bool:
    """Take a breaching canary out of traffic; False when it no longer is one (another replica did it)."""
    state = registry.aliases.get(alias)
    target = state.versions.get(version) if state else None
    if state is None or target is None or target.status != "canary" or target.weight == 0:
        return False
    target.status, target.weight, target.note = "rolled_back", 0, reason
    state._rebalance()
    return True
