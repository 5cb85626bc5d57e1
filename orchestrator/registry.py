"""Service registry: agent and tool services, their manifests and instances, kept in Redis.

Registration fetches and validates the manifest and health-checks the instance. A background
loop re-probes every instance, ejecting failing ones from routing and re-admitting them when
they answer again. Several instances under one name are replicas.

A registration's URL is the registering admin's choice of what the orchestrator fetches, so
every fetch here goes through the address guard (each connection re-resolved and checked:
meshline/resilience/address_guard.py), URLs are rebuilt from their parsed parts, and refusals
say what failed without echoing what the upstream answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError
from redis.asyncio import Redis

from meshline.contracts import Manifest, TokenPolicy, ToolBinding
from meshline.contracts import Protocol as ToolProtocol
from meshline.errors import (
    BadRequest,
    Conflict,
    MeshlineError,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    UpstreamError,
)
from meshline.orchestrator.mcp_registration import McpRegistrar
from meshline.orchestrator.registry_fetch import GuardedFetcher, validation_summary
from meshline.resilience import SYSTEM_CLOCK, AddressGuard, AddressNotAllowed, Clock, LastKnown, ServiceUrl

log = logging.getLogger(__name__)
MANIFESTS = "meshline:registry:manifests"
# Set with the first registration; its absence means Redis lost its data (restarted empty).
EPOCH = "meshline:registry:epoch"
INSTANCES = "meshline:registry:instances:{name}"


class Instance(BaseModel):
    url: str
    healthy: bool = True
    last_error: str | None = None
    checked_at: float = 0.0
    in_flight: int = Field(default=0, description="Calls in flight from this orchestrator (not stored).")


class ServiceEntry(BaseModel):
    name: str
    kind: str
    version: str
    description: str
    manifest: Manifest
    instances: list[Instance]
    # The answering orchestrator's protection of an agent (filled in by the API, not stored).
    breaker: str | None = None
    in_flight: int = 0
    max_concurrent: int | None = None


def normalize_url(url: str) -> str:
    """The canonical form of a submitted service URL; 400 ``invalid_url`` for anything else."""
    return ServiceUrl.parse(url).base


class AgentIndex(Protocol):
    """Told when an agent comes and goes (the router's example index), so routing follows at once."""

    async def add(self, manifest: Manifest) -> None: ...
    async def remove(self, name: str) -> None: ...


class ServiceRegistry:
    """``guard`` decides which addresses registered URLs may lead to (default: public ones only);
    ``clock`` stamps health checks and the registry epoch (injectable for tests). ``probe_timeout_s``
    bounds each HTTP call to a service (manifest, health), ``mcp_list_timeout_s`` and
    ``mcp_probe_timeout_s`` an MCP server's tool listing and health check; the app passes its
    settings (``registry_probe_timeout_s``, ``mcp_*_timeout_s``), whose defaults these are."""

    def __init__(
        self,
        redis: Redis,
        index: AgentIndex | None = None,
        *,
        guard: AddressGuard | None = None,
        clock: Clock = SYSTEM_CLOCK,
        probe_timeout_s: float = 2.0,
        mcp_list_timeout_s: float = 5.0,
        mcp_probe_timeout_s: float = 2.0,
    ) -> None:
        self.clock = clock
        self._outstanding: dict[str, int] = {}
        # The registry as last read: routing and dispatch go on through a Redis outage.
        self._manifests: LastKnown[Manifest | None] = LastKnown("service manifests")
        self._instances: LastKnown[list[Instance]] = LastKnown("service instances")
        self._names: LastKnown[list[str]] = LastKnown("service names")
        self.redis = redis
        self.index = index
        self.guard = guard or AddressGuard()
        self.http = GuardedFetcher(self.guard, timeout_s=probe_timeout_s)
        self.mcp = McpRegistrar(self.guard, list_timeout_s=mcp_list_timeout_s, probe_timeout_s=mcp_probe_timeout_s)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.mcp.aclose()

    async def _notify(self, manifest: Manifest | None, removed: str | None = None) -> None:
        # Best effort: the router re-syncs with the registry on every turn anyway.
        try:
            if self.index is not None and manifest is not None and manifest.kind == "agent":
                await self.index.add(manifest)
            if self.index is not None and removed is not None:
                await self.index.remove(removed)
        except Exception:
            log.exception("could not update the routing index")

    async def _probe(self, url: str, protocol: ToolProtocol = "meshline") -> MeshlineError | None:
        """None when the instance is ready, else why not (in words of our own, nothing upstream sent)."""
        try:
            base = ServiceUrl.parse(url)
            if protocol == "mcp":
                await self.mcp.probe(base)
                return None
            status = (await self.http.get(base, "readyz")).status
        except BadRequest:  # stored before URLs were checked: eject it rather than fetch it
            return BadRequest("its URL is not one the registry accepts", code="invalid_url")
        except MeshlineError as exc:
            return exc
        return None if status == 200 else UpstreamError(f"GET /readyz answered {status}", code="not_ready")

    async def fetch_manifest(self, base: ServiceUrl) -> Manifest:
        try:
            response = await self.http.get(base, "v1", "manifest")
        except AddressNotAllowed:
            raise
        except MeshlineError as exc:  # the caller's URL leads nowhere: their input, so a 4xx
            raise Unprocessable(
                f"cannot fetch the manifest from {base.base}: {exc.detail}", code="manifest_unreachable", retryable=True
            ) from exc
        if response.status != 200:
            raise Unprocessable(f"GET /v1/manifest at {base.base} answered {response.status}", code="no_manifest")
        try:
            return Manifest.model_validate_json(response.body)
        except ValidationError as exc:
            raise BadRequest(
                f"invalid manifest at {base.base}: {validation_summary(exc)}", code="invalid_manifest"
            ) from exc

    async def describe(
        self, base: ServiceUrl, protocol: ToolProtocol | None = None, name: str | None = None
    ) -> Manifest:
        """The manifest at ``base``: native, adapted from an MCP server, or (no protocol) whichever answers."""
        if protocol == "mcp":
            return await self.mcp.manifest(base, name)
        try:
            manifest = await self.fetch_manifest(base)
        except MeshlineError as exc:
            if protocol is None and exc.code == "no_manifest":
                return await self.mcp.manifest(base, name, not_native=exc.detail)
            raise
        if name is not None and name != manifest.name:
            raise Unprocessable(f"{base.base} serves another service than {name!r}", code="name_mismatch")
        return manifest

    async def register(
        self,
        url: str,
        protocol: ToolProtocol | None = None,
        name: str | None = None,
        token_policy: TokenPolicy = "own",
    ) -> ServiceEntry:
        """Add the instance at ``url``; ``protocol`` None tries the native contract, then MCP.

        ``token_policy`` is the registration's choice, not the service's: whatever its manifest
        says, "own" gives a tool service a token for itself alone, "none" no token at all."""
        base = ServiceUrl.parse(url)
        url = base.base
        manifest = (await self.describe(base, protocol, name)).model_copy(update={"token_policy": token_policy})
        if manifest.kind == "agent" and token_policy != "own":
            raise BadRequest("an agent is always called with its own token", code="token_policy_not_applicable")
        problem = await self._probe(url, manifest.protocol)
        if isinstance(problem, AddressNotAllowed):  # e.g. the name resolved elsewhere the second time
            raise problem
        if problem is not None:
            raise Unprocessable(
                f"{manifest.name} at {url} is not ready: {problem.detail}", code="instance_not_ready", retryable=True
            )
        existing = await self.manifest(manifest.name)
        if existing is not None and existing.kind != manifest.kind:
            raise BadRequest(f"{manifest.name!r} is already registered as a {existing.kind}", code="kind_conflict")
        others = [i for i in await self.instances(manifest.name) if i.url != url]
        if existing is not None and others and existing.tools != manifest.tools:
            # Replicas must be interchangeable: a caller picks any instance for a tool call.
            raise Conflict(
                f"{manifest.name!r} is registered with other tool schemas at {others[0].url}; "
                "deregister it first to replace its tools",
                code="schema_conflict",
            )
        if existing is not None and others and existing.token_policy != token_policy:
            raise Conflict(
                f"{manifest.name!r} is registered with token_policy {existing.token_policy!r}; "
                "replicas share one policy (deregister it first to change it)",
                code="token_policy_conflict",
            )
        instance = Instance(url=url, healthy=True, checked_at=self.clock.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.setnx(EPOCH, str(self.clock.time()))
            pipe.hset(MANIFESTS, manifest.name, manifest.model_dump_json())
            pipe.hset(INSTANCES.format(name=manifest.name), url, instance.model_dump_json(exclude={"in_flight"}))
            await pipe.execute()
        log.info("registered %s (%s) at %s", manifest.name, manifest.kind, url)
        await self._notify(manifest)
        entry = await self.get(manifest.name)
        assert entry is not None
        return entry

    async def manifest(self, name: str) -> Manifest | None:
        async def fetch() -> Manifest | None:
            raw = await self.redis.hget(MANIFESTS, name)
            return None if raw is None else Manifest.model_validate_json(raw)

        return await self._manifests.read(name, fetch)

    async def instances(self, name: str) -> list[Instance]:
        async def fetch() -> list[Instance]:
            raw = await self.redis.hgetall(INSTANCES.format(name=name))
            return [Instance.model_validate_json(v) for v in raw.values()]

        instances = await self._instances.read(name, fetch)
        return sorted(
            (i.model_copy(update={"in_flight": self._outstanding.get(i.url, 0)}) for i in instances),
            key=lambda i: i.url,
        )

    async def get(self, name: str) -> ServiceEntry | None:
        manifest = await self.manifest(name)
        if manifest is None:
            return None
        return ServiceEntry(
            name=name,
            kind=manifest.kind,
            version=manifest.version,
            description=manifest.description,
            manifest=manifest,
            instances=await self.instances(name),
        )

    async def names(self) -> list[str]:
        async def fetch() -> list[str]:
            names = sorted(_text(n) for n in await self.redis.hkeys(MANIFESTS))
            if not names and await self.restore_if_lost():
                names = sorted(_text(n) for n in await self.redis.hkeys(MANIFESTS))
            return names

        return await self._names.read("all", fetch)

    async def list(self, kind: str | None = None) -> list[ServiceEntry]:
        names = await self.names()
        entries = [e for e in [await self.get(n) for n in names] if e is not None]
        return [e for e in entries if kind is None or e.kind == kind]

    async def remove(self, name: str, url: str | None = None) -> None:
        if await self.manifest(name) is None:
            raise NotFound(f"no service named {name!r}", code="unknown_service")
        if url is not None:
            # The canonical form, and the raw one for instances stored before URLs were checked.
            candidates = {url.strip().rstrip("/")}
            with contextlib.suppress(BadRequest):
                candidates.add(normalize_url(url))
            await self.redis.hdel(INSTANCES.format(name=name), *candidates)
            if await self.redis.hlen(INSTANCES.format(name=name)):
                return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(MANIFESTS, name)
            pipe.delete(INSTANCES.format(name=name))
            await pipe.execute()
        await self._notify(None, removed=name)

    async def pick(self, name: str, exclude: Collection[str] = ()) -> str:
        """URL of the healthy instance of ``name`` with the fewest calls in flight from this process."""
        instances = await self.instances(name)
        if not instances:
            raise NotFound(f"no service named {name!r} is registered", code="unknown_service")
        healthy = [i.url for i in instances if i.healthy and i.url not in exclude]
        if not healthy:
            raise ServiceUnavailable(f"no healthy instance of {name!r} is left", code="no_healthy_instance")
        fewest = min(self._outstanding.get(url, 0) for url in healthy)
        return random.choice([url for url in healthy if self._outstanding.get(url, 0) == fewest])

    async def binding(self, name: str) -> ToolBinding:
        """A healthy instance of the tool service ``name``: the protocol its tools are called by, and the
        registration's token policy (dispatch mints ``ToolBinding.token`` from it)."""
        url = await self.pick(name)
        manifest = await self.manifest(name) or Manifest(name=name, kind="tool")
        return ToolBinding(service=name, url=url, protocol=manifest.protocol, token_policy=manifest.token_policy)

    @contextmanager
    def lease(self, url: str) -> Iterator[None]:
        """Count a call in flight to ``url`` for least-outstanding-requests balancing."""
        self._outstanding[url] = self._outstanding.get(url, 0) + 1
        try:
            yield
        finally:
            self._outstanding[url] -= 1

    async def restore_if_lost(self) -> bool:
        """Write back this process's last known registry when Redis came back without its data.

        A Redis restarted without persistence forgets every registration; the services are
        still running, and this orchestrator still knows them. (An admin who deregisters
        everything leaves the epoch in place, so that is not undone here.)
        """
        if await self.redis.exists(EPOCH):
            return False
        last_names = set(self._names.known().get("all", []))  # as last listed: none removed since
        manifests = {n: m for n, m in self._manifests.known().items() if m is not None and n in last_names}
        if not manifests:
            return False
        instances = self._instances.known()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.setnx(EPOCH, str(self.clock.time()))
            for name, manifest in manifests.items():
                pipe.hset(MANIFESTS, str(name), manifest.model_dump_json())
                for instance in instances.get(name, []):
                    pipe.hset(
                        INSTANCES.format(name=name), instance.url, instance.model_dump_json(exclude={"in_flight"})
                    )
            await pipe.execute()
        log.warning("redis lost the registry: restored %d services from this orchestrator", len(manifests))
        for manifest in manifests.values():
            await self._notify(manifest)
        return True

    async def check_all(self) -> None:
        """Probe every instance once and record the result."""
        for name in await self.names():
            manifest = await self.manifest(name)
            for instance in await self.instances(name):
                refusal = await self._probe(instance.url, manifest.protocol if manifest else "meshline")
                problem = None if refusal is None else refusal.detail
                if (problem is None) != instance.healthy:
                    log.warning("%s at %s is now %s", name, instance.url, "healthy" if problem is None else problem)
                updated = Instance(
                    url=instance.url, healthy=problem is None, last_error=problem, checked_at=self.clock.time()
                )
                # Only update instances still registered (a concurrent DELETE wins).
                key = INSTANCES.format(name=name)
                if await self.redis.hexists(key, instance.url):
                    await self.redis.hset(key, instance.url, updated.model_dump_json(exclude={"in_flight"}))

    async def run_health_checks(self, interval_s: float, stop: asyncio.Event) -> None:
        """Probe every ``interval_s`` until ``stop`` is set.

        Stopped by an event, not by cancellation: a cancel landing inside a Redis call can be
        swallowed by the client library, which would leave shutdown waiting forever.
        """
        while not stop.is_set():
            try:
                await self.check_all()
            except Exception:  # the loop must survive a Redis blip
                log.exception("health check round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
