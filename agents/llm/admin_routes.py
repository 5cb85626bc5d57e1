"""Admin API of the model registry (scope ``admin``) and the usage ledger.

``GET /v1/admin/models`` lists aliases with versions, weights, health (this replica's window
and the last minute across replicas) and recent events; ``deploy``, ``promote`` and
``rollback`` change the registry in Redis, and every replica serves the change within a second.
A deployed version's ``api_key`` names an environment variable of the LLM layer
(``os.environ/NAME``); a literal key is refused, and no listing shows a key or its reference.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from meshline.agents.llm import ledger, versions
from meshline.agents.llm.gateway import ModelGateway
from meshline.agents.llm.model_registry import ModelRegistryStore
from meshline.agents.llm.provider_keys import ProviderKeys
from meshline.agents.llm.versions import DeploymentSpec, ModelVersion, Registry
from meshline.contracts import (
    AliasListing,
    HistoryListing,
    RegistryListing,
    ReplicaHealth,
    UsageReport,
    VersionHealth,
    VersionListing,
)
from meshline.errors import NotFound
from meshline.json_types import JsonObject
from meshline.service import ADMIN, USAGE_READ, Identity, require_identity

router = APIRouter(prefix="/v1", tags=["llm admin"])
Admin = Annotated[Identity, Depends(require_identity(ADMIN))]
VERSION_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


KEY_FIELD = Field(default=None, max_length=2000, description="os.environ/NAME: the LLM layer's variable NAME.")


class DeploymentRequest(BaseModel):
    """One deployment as an admin sends it; its ``api_key`` becomes a reference or a 400."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    api_base: str | None = Field(default=None, max_length=2000)
    api_key: str | None = KEY_FIELD
    params: JsonObject = Field(default_factory=dict)

    def spec(self, keys: ProviderKeys) -> DeploymentSpec:
        return DeploymentSpec(
            model=self.model, api_base=self.api_base, api_key=keys.admin_reference(self.api_key), params=self.params
        )


class DeployRequest(BaseModel):
    version: str = Field(pattern=VERSION_PATTERN)
    model: str | None = Field(default=None, min_length=1, max_length=256, description="Shorthand for one deployment.")
    api_base: str | None = Field(default=None, max_length=2000)
    api_key: str | None = KEY_FIELD
    params: JsonObject = Field(default_factory=dict)
    deployments: list[DeploymentRequest] | None = Field(default=None, min_length=1, max_length=32)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    canary: int = Field(default=10, ge=0, le=100, description="Percent of traffic the new version gets.")

    @model_validator(mode="after")
    def _one_way(self) -> DeployRequest:
        if (self.model is None) == (self.deployments is None):
            raise ValueError("give either `model` (one deployment) or `deployments`")
        return self

    def model_version(self, keys: ProviderKeys) -> ModelVersion:
        requested = self.deployments or (
            [DeploymentRequest(model=self.model, api_base=self.api_base, api_key=self.api_key, params=self.params)]
            if self.model
            else []
        )
        deployments = [d.spec(keys) for d in requested]
        return ModelVersion(version=self.version, deployments=deployments, system_prompt=self.system_prompt)


class PromoteRequest(BaseModel):
    version: str = Field(pattern=VERSION_PATTERN)


def _who(identity: Identity) -> str:
    return f"{identity.tenant}/{identity.user}"


async def _listing(request: Request, registry: Registry) -> RegistryListing:
    gateway: ModelGateway = request.app.state.gateway
    groups = [f"{a}@{v}" for a, s in registry.aliases.items() for v in s.versions]
    shared = await ledger.shared_health(request.app.state.redis, groups)
    history = await _store(request).history(limit=200)
    aliases = []
    for alias, state in registry.aliases.items():
        rows = []
        for version in state.versions.values():
            group = f"{alias}@{version.version}"
            local = gateway.health.stats(group)
            rows.append(
                VersionListing(
                    version=version.version,
                    status=version.status,
                    weight=version.weight,
                    deployments=[d.public() for d in version.deployments],
                    system_prompt=version.system_prompt is not None,
                    note=version.note,
                    cooling_down_s=round(gateway.cooldowns.cooling(group), 1),
                    health=VersionHealth(
                        last_minute=shared[group],
                        this_replica=ReplicaHealth(requests=local.requests, error_rate=round(local.error_rate, 4)),
                    ),
                )
            )
        events = [e for e in history if e.alias == alias][:10]
        aliases.append(
            AliasListing(
                alias=alias,
                stable=state.stable,
                previous=state.previous,
                fallbacks=gateway.config.llm.fallbacks.get(alias, []),
                versions=rows,
                events=events,
            )
        )
    return RegistryListing(revision=registry.revision, aliases=aliases)


def _store(request: Request) -> ModelRegistryStore:
    store: ModelRegistryStore = request.app.state.store
    return store


async def _changed(request: Request, registry: Registry) -> RegistryListing:
    gateway: ModelGateway = request.app.state.gateway
    await gateway.apply(registry)  # this replica serves it at once; the others within a poll
    return await _listing(request, registry)


@router.get("/admin/models")
async def list_versions(request: Request, _: Admin) -> RegistryListing:
    """Every alias with its versions, weights, health and recent events."""
    gateway: ModelGateway = request.app.state.gateway
    return await _listing(request, gateway.registry)


@router.post("/admin/models/{alias}/deploy")
async def deploy_version(alias: str, body: DeployRequest, request: Request, identity: Admin) -> RegistryListing:
    """Add a version as the alias's canary with ``canary`` % of traffic."""
    gateway: ModelGateway = request.app.state.gateway
    version = body.model_version(gateway.keys)
    registry, _ = await _store(request).change(
        lambda r: versions.deploy(r, alias, version, body.canary),
        who=_who(identity),
        action="deploy",
        alias=alias,
        detail={"version": body.version, "models": [d.model for d in version.deployments], "canary": body.canary},
    )
    return await _changed(request, registry)


@router.post("/admin/models/{alias}/promote")
async def promote_version(alias: str, body: PromoteRequest, request: Request, identity: Admin) -> RegistryListing:
    """Make a version stable with all the traffic."""
    registry, _ = await _store(request).change(
        lambda r: versions.promote(r, alias, body.version),
        who=_who(identity),
        action="promote",
        alias=alias,
        detail={"version": body.version},
    )
    return await _changed(request, registry)


@router.post("/admin/models/{alias}/rollback")
async def rollback_alias(alias: str, request: Request, identity: Admin) -> RegistryListing:
    """Take the canary out of traffic, or with none, return to the previous stable version."""
    before = request.app.state.gateway.registry.aliases.get(alias)
    registry, _ = await _store(request).change(
        lambda r: versions.rollback(r, alias),
        who=_who(identity),
        action="rollback",
        alias=alias,
        detail={"from": before.stable if before else None},
    )
    return await _changed(request, registry)


@router.get("/admin/models/history")
async def history(
    request: Request, _: Admin, alias: Annotated[str | None, Query(max_length=128)] = None
) -> HistoryListing:
    """Who changed what and when, most recent first."""
    return HistoryListing(history=await _store(request).history(alias, limit=200))


@router.get("/usage", response_model_exclude_none=True)  # `tenants` only in an admin's report
async def usage(
    request: Request,
    identity: Annotated[Identity, Depends(require_identity(USAGE_READ))],
    tenant: Annotated[str | None, Query(max_length=128)] = None,
) -> UsageReport:
    """Tokens and cost per agent, alias and version: the caller's tenant, or any tenant for an admin."""
    wanted = tenant or identity.tenant
    if wanted != identity.tenant and ADMIN not in identity.scopes:
        # Another tenant's usage is not found, not forbidden: tenants cannot be probed.
        raise NotFound(f"no usage for tenant {wanted!r}", code="tenant_not_found")
    report = await ledger.usage_report(request.app.state.redis, wanted)
    if ADMIN in identity.scopes and tenant is None:
        report.tenants = await ledger.usage_tenants(request.app.state.redis)
    return report
