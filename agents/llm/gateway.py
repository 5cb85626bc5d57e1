"""The gateway: the registry as this replica knows it, the litellm router over it, and fallback chains.

Each ``alias@version`` is one litellm model group (litellm balances and retries over its
deployments). Which version serves a conversation, and what is tried when it fails, is decided
here: the sticky pick, then the alias's stable version (so a failing canary costs users
nothing), then the stable version of each alias in the fallback chain. Context-window
overflow switches to the context-window chain. Every attempt feeds the health windows, the
cooldowns and, for a canary breaching its thresholds, an automatic rollback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import litellm
from litellm.router import Router

from meshline.agents.llm.config import LlmConfig
from meshline.agents.llm.endpoint_slots import EndpointSlots, is_busy
from meshline.agents.llm.health import Cooldowns, HealthWindows
from meshline.agents.llm.model_registry import ModelRegistryStore
from meshline.agents.llm.provider_errors import provider_error
from meshline.agents.llm.provider_keys import ProviderKeys
from meshline.agents.llm.telemetry import LlmMetrics
from meshline.agents.llm.versions import ModelVersion, Registry, auto_rollback
from meshline.errors import BadRequest, MeshlineError, ServiceUnavailable
from meshline.json_types import JsonObject
from meshline.service import BackgroundTasks

log = logging.getLogger(__name__)
T = TypeVar("T")
AUTO = "meshline (automatic rollback)"


@dataclass(frozen=True)
class Attempt:
    alias: str
    version: ModelVersion

    @property
    def group(self) -> str:
        return f"{self.alias}@{self.version.version}"


@dataclass
class Outcome:
    """What a chain of attempts did: the attempt that answered and every (group, ok, latency) seen."""

    served: Attempt | None = None
    observations: list[tuple[str, bool, float]] = field(default_factory=list)


def build_router(registry: Registry, keys: ProviderKeys, *, timeout_s: float, num_retries: int) -> Router:
    model_list = [
        {
            "model_name": f"{alias}@{version.version}",
            "litellm_params": d.litellm_params(alias, timeout_s, keys.resolve(alias, version, i)),
        }
        for alias, state in registry.aliases.items()
        for version in state.versions.values()
        if version.weight > 0 or version.version == state.stable
        for i, d in enumerate(version.deployments)
    ]
    router: Router = Router(model_list=model_list, num_retries=num_retries, timeout=timeout_s)
    return router


class ModelGateway:
    """The replica's current registry and router; swaps both when the registry changes."""

    def __init__(
        self,
        *,
        config: LlmConfig,
        keys: ProviderKeys,
        store: ModelRegistryStore,
        health: HealthWindows,
        cooldowns: Cooldowns,
        metrics: LlmMetrics,
        background: BackgroundTasks,
        timeout_s: float,
        num_retries: int,
        slots: EndpointSlots | None = None,
    ) -> None:
        self.config, self.store, self.health, self.cooldowns = config, store, health, cooldowns
        self.slots = slots or EndpointSlots({}, queue_s=1.0)
        self.keys = keys
        self.metrics, self.background = metrics, background
        self._timeout_s, self._num_retries = timeout_s, num_retries
        self.registry = Registry()
        self.router: Router | None = None
        self._retired: list[Router] = []
        self._unpriced: set[str] = set()

    async def apply(self, registry: Registry) -> None:
        """Serve ``registry`` from now on: build its router off the event loop, then swap."""
        router = await asyncio.to_thread(
            build_router, registry, self.keys, timeout_s=self._timeout_s, num_retries=self._num_retries
        )
        if self.router is not None:
            self._retired.append(self.router)  # in-flight calls may still hold it; retired at close
        self.registry, self.router = registry, router
        self.metrics.show_weights(registry)

    def close(self) -> None:
        for router in [*self._retired, *([self.router] if self.router else [])]:
            retire = getattr(router, "retire", None)
            if callable(retire):
                retire()

    def plan(self, alias: str, sticky_key: str) -> list[Attempt]:
        """The attempts for one request, in order (404 ``unknown_model`` for an unknown alias)."""
        state = self.registry.alias(alias)
        picked = state.pick(alias, sticky_key)
        chain = [Attempt(alias, picked)]
        if picked.version != state.stable:
            chain.append(Attempt(alias, state.versions[state.stable]))
        return chain + self._stable_of(self.config.llm.fallbacks.get(alias, []))

    def _stable_of(self, aliases: list[str]) -> list[Attempt]:
        attempts = []
        for name in aliases:
            state = self.registry.aliases.get(name)
            if state is not None:
                attempts.append(Attempt(name, state.versions[state.stable]))
        return attempts

    async def run(self, chain: list[Attempt], call: Callable[[Attempt], Awaitable[T]]) -> tuple[T, Outcome]:
        """Try each attempt until one answers; a caller's bad request ends the chain at once."""
        outcome = Outcome()
        last: MeshlineError | None = None
        context_switched = False
        queue = list(chain)
        while queue:
            attempt = queue.pop(0)
            cooling = self.cooldowns.cooling(attempt.group)
            if cooling:  # failing fast: no call to a group that just failed repeatedly
                self.metrics.fallbacks.labels(attempt.alias, "cooldown").inc()
                if attempt.version.status == "canary":
                    # A cooled-down canary failed this conversation too: it counts towards rollback.
                    self.health.record(attempt.group, False, 0.0)
                    self._judge(attempt)
                last = last or ServiceUnavailable(
                    f"{attempt.group} is cooling down after repeated failures",
                    code="no_healthy_deployment",
                    headers={"Retry-After": str(math.ceil(cooling))},
                )
                continue
            started = time.perf_counter()
            try:
                result = await call(attempt)
            except Exception as exc:
                error = provider_error(exc)
                if error is None:
                    raise
                if is_busy(error):  # the endpoint's queue is full: capacity, not the version's fault
                    self.metrics.fallbacks.labels(attempt.alias, error.code).inc()
                    last = error
                    continue
                if isinstance(error, BadRequest):
                    if error.code != "context_window_exceeded" or context_switched:
                        raise error from exc
                    context_switched = True
                    queue = self._stable_of(self.config.llm.context_window_fallbacks.get(attempt.alias, []))
                    self.metrics.fallbacks.labels(attempt.alias, "context_window").inc()
                    last = error
                    continue
                self._observe(outcome, attempt, ok=False, latency_s=time.perf_counter() - started)
                log.warning("%s failed: %s (%s)", attempt.group, error.detail, error.code)
                self.metrics.fallbacks.labels(attempt.alias, error.code).inc()
                last = error
                continue
            self._observe(outcome, attempt, ok=True, latency_s=time.perf_counter() - started)
            outcome.served = attempt
            return result, outcome
        assert last is not None  # the chain is never empty
        raise last

    def _observe(self, outcome: Outcome, attempt: Attempt, *, ok: bool, latency_s: float) -> None:
        group = attempt.group
        outcome.observations.append((group, ok, latency_s))
        self.health.record(group, ok, latency_s)
        if ok:
            self.cooldowns.succeeded(group)
        else:
            self.cooldowns.failed(group)
        self._judge(attempt)

    def _judge(self, attempt: Attempt) -> None:
        if attempt.version.status != "canary":
            return
        reason = self.health.breach(attempt.group)
        if reason is not None:
            self.health.forget(attempt.group)  # judged once; the rollback runs in the background
            self.background.spawn(self._auto_rollback(attempt, reason), name=f"auto-rollback {attempt.group}")

    async def _auto_rollback(self, attempt: Attempt, reason: str) -> None:
        version = attempt.version.version
        registry, done = await self.store.change(
            lambda r: auto_rollback(r, attempt.alias, version, reason),
            who=AUTO,
            action="auto_rollback",
            alias=attempt.alias,
            detail={"version": version, "reason": reason},
        )
        if done:
            log.warning("rolled back canary %s: %s", attempt.group, reason)
            self.metrics.rollbacks.labels(attempt.alias, version).inc()
            await self.apply(registry)

    def cost_nano_usd(self, attempt: Attempt, prompt_tokens: int, completion_tokens: int) -> int:
        """From litellm's cost map; a model it does not price (a local model) costs nothing.

        litellm's lookup costs most of a millisecond, so a model found unpriced is not looked up again.
        """
        model = attempt.version.deployments[0].model
        if model in self._unpriced or not (prompt_tokens or completion_tokens):
            return 0
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:  # litellm raises several types for an unmapped model
            self._unpriced.add(model)
            return 0
        cost = round((prompt_cost + completion_cost) * 1_000_000_000)
        if cost == 0:  # priced at zero (e.g. a model the router registered without prices): skip from now on
            self._unpriced.add(model)
        return cost

    def messages_for(self, attempt: Attempt, messages: list[JsonObject]) -> list[JsonObject]:
        """The version's system prompt, when it has one, goes in front of the caller's messages."""
        prompt = attempt.version.system_prompt
        return [{"role": "system", "content": prompt}, *messages] if prompt else messages
