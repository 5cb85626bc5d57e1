"""Dispatch: send an AgentTask to an agent service over HTTP and relay its stream.

Deltas are handed to ``on_delta`` as they arrive so the orchestrator can stream them on.
A failed agent never fails the turn: its fallback agent answers (told what is unavailable),
or, without one, an honest degraded reply names what is unavailable; either way the turn is
answered before its deadline and recorded.

Who is blamed: an agent's breaker counts the agent's faults only — its own budget
(``DispatchPolicy.timeouts``) running out, connect failures, 5xx, broken streams — never the
turn's deadline running out first (``timeout_s`` or the reserve), nor its tenant's share of the
agent's bulkhead being taken (see ``counts_as_failure``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from meshline.contracts import AgentResult, AgentTask, HopTokens, ToolBinding, ToolCallRecord
from meshline.errors import MeshlineError, ServiceUnavailable, UpstreamError
from meshline.orchestrator.dispatch_outcome import DispatchFailure, DispatchOutcome
from meshline.orchestrator.pending import PENDING_TTL_S, PendingCalls
from meshline.orchestrator.registry import ServiceRegistry
from meshline.resilience import (
    STREAM_BROKEN,
    Bulkhead,
    CallPipeline,
    CallPolicy,
    CircuitBreaker,
    ResilienceMetrics,
    ServiceClient,
    SharedBreakerStore,
    raise_for_problem,
    time_left,
)
from meshline.service import AGENT_INVOKE, KNOWLEDGE_READ, LLM_CALL, TOOLS_CALL, ServiceTokenIssuer
from meshline.sse import SSE_MEDIA_TYPE, aiter_sse

log = logging.getLogger(__name__)
OnDelta = Callable[[str, str], Awaitable[None] | None]
OnTool = Callable[[str, ToolCallRecord], Awaitable[None] | None]
# A replica that died under a call: its stream broke, or ended without a result.
REPLICA_LOST = frozenset({STREAM_BROKEN, "incomplete_stream"})


@dataclass(frozen=True)
class DispatchPolicy:
    """Who answers when an agent cannot, how long an agent may take, and how much of the turn's
    deadline each step keeps back."""

    fallbacks: Mapping[str, str] = field(default_factory=dict)  # agent -> fallback agent
    reserve_s: float = 1.0  # kept back from the turn's deadline to compose and save the turn
    min_fallback_s: float = 2.0  # below this much time left, answer degraded instead of falling back
    # agent -> its own budget within the turn, counted from when its call starts (after the wait for
    # a slot); an agent without one is bounded by the turn's deadline and the client's timeout.
    timeouts: Mapping[str, float] = field(default_factory=dict)


class AgentStatus(BaseModel):
    """The orchestrator's view of one agent's protection: its breaker and its bulkhead."""

    breaker: str
    in_flight: int
    max_concurrent: int


class AgentCaller:
    """Calls agents through a circuit breaker and a bulkhead per agent, so one failing or slow
    agent is rejected fast instead of holding the orchestrator's connections and the user's time."""

    def __init__(
        self,
        client: ServiceClient,
        registry: ServiceRegistry,
        issuer: ServiceTokenIssuer,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
        policy: DispatchPolicy | None = None,
        metrics: ResilienceMetrics | None = None,
        pending_ttl_s: float = PENDING_TTL_S,
    ) -> None:
        self.client = client
        self.registry = registry
        self.issuer = issuer
        self.breaker = breaker or CircuitBreaker(SharedBreakerStore(registry.redis), metrics=metrics)
        self.bulkhead = bulkhead or Bulkhead(metrics=metrics)
        self.policy = policy or DispatchPolicy()
        # Breaker, the turn's deadline less the reserve, a fair bulkhead slot, the agent's own budget.
        self.pipeline = CallPipeline(
            client,
            CallPolicy(
                breaker=self.breaker,
                bulkhead=self.bulkhead,
                reserve_s=self.policy.reserve_s,
                budgets=self.policy.timeouts,
            ),
        )
        self.pending = PendingCalls(registry.redis, pending_ttl_s)
        self.metrics = metrics

    async def status(self, agent: str) -> AgentStatus:
        return AgentStatus(
            breaker=(await self.breaker.state(agent)).value,
            in_flight=self.bulkhead.in_use(agent),
            max_concurrent=self.bulkhead.policy.max_concurrent,
        )

    def agent_token(self, agent: str, tenant: str, user: str) -> str:
        """The token the agent is called with: it opens that agent and nothing else."""
        return self.issuer.issue(tenant=tenant, user=user, scopes=[AGENT_INVOKE], audience=agent)

    def hop_tokens(self, tenant: str, user: str) -> HopTokens:
        """The agent's own calls: the LLM layer, and read access to the tenant's knowledge bases
        (never the user's memories: recall and remember are the orchestrator's)."""
        return HopTokens(
            llm=self.issuer.issue(tenant=tenant, user=user, scopes=[LLM_CALL], audience="llm"),
            memory=self.issuer.issue(tenant=tenant, user=user, scopes=[KNOWLEDGE_READ], audience="memory"),
        )

    async def tool_bindings(self, agent: str, uses: list[str], tenant: str, user: str) -> list[ToolBinding]:
        """The tool services the agent's manifest ``uses``, at a healthy instance each (absent ones
        skipped), each with a token valid for that service alone (or none, as it was registered)."""
        bindings = []
        for service in uses:
            try:
                binding = await self.registry.binding(service)
            except MeshlineError as exc:
                log.warning("%s cannot use %s this turn: %s", agent, service, exc.detail)
                continue
            token = (
                None
                if binding.token_policy == "none"
                else self.issuer.issue(tenant=tenant, user=user, scopes=[TOOLS_CALL], audience=service)
            )
            bindings.append(binding.model_copy(update={"token": token}))
        return bindings

    async def _prepared(
        self, agent: str, uses: list[str], task: AgentTask, pending_key: str, tenant: str, user: str
    ) -> AgentTask:
        """The task with this turn's tool bindings, hop tokens and the agent's open question."""
        pending = await self.pending.get(pending_key)
        tools = await self.tool_bindings(agent, uses, tenant, user)
        return task.model_copy(update={"tools": tools, "tokens": self.hop_tokens(tenant, user), "pending": pending})

    async def invoke(
        self, agent: str, task: AgentTask, *, tenant: str, user: str, on_delta: OnDelta, on_tool: OnTool
    ) -> DispatchOutcome:
        """The agent's result, or on failure its fallback's or a degraded reply with the failure."""
        try:
            return DispatchOutcome(await self._attempt(agent, task, tenant, user, on_delta, on_tool))
        except MeshlineError as exc:
            log.warning("agent %s failed: %s (%s)", agent, exc.detail, exc.code)
            error = exc
        failure = DispatchFailure.of(agent, error)
        fallback = self.policy.fallbacks.get(agent)
        left = time_left(self.policy.reserve_s)
        if fallback and fallback != agent and (left is None or left >= self.policy.min_fallback_s):
            try:
                result = await self._attempt(
                    fallback, _for_fallback(task, agent, error), tenant, user, on_delta, on_tool
                )
            except MeshlineError as exc:
                log.warning("fallback %s for %s failed too: %s (%s)", fallback, agent, exc.detail, exc.code)
            else:
                self._count_fallback(agent, fallback)
                result.fallback_for = agent
                return DispatchOutcome(result, failure)
        self._count_fallback(agent, "degraded")
        text = (
            f"Sorry, the {agent} assistant is unavailable right now ({failure.code}). "
            "Your message is saved in this conversation; please try again in a moment."
        )
        return DispatchOutcome(AgentResult(task_id=task.task_id, agent=agent, content=text), failure)

    def _count_fallback(self, agent: str, fallback: str) -> None:
        if self.metrics is not None:
            self.metrics.fallbacks.labels(agent, fallback).inc()

    async def _attempt(
        self, agent: str, task: AgentTask, tenant: str, user: str, on_delta: OnDelta, on_tool: OnTool
    ) -> AgentResult:
        # task.thread_id is the thread's key, which already names tenant and user.
        pending_key = self.pending.key(task.thread_id, agent)
        manifest = await self.registry.manifest(agent)
        task = await self._prepared(agent, manifest.uses if manifest else [], task, pending_key, tenant, user)
        token = self.agent_token(agent, tenant, user)
        result = await self._invoke(agent, task, tenant, token, on_delta, on_tool)
        # Confirmed or cancelled: closed; asked again or left open: kept, its clock running on; a new one replaces it.
        await self.pending.settle(pending_key, task.pending, result.pending)
        return result

    async def _invoke(
        self, agent: str, task: AgentTask, tenant: str, token: str, on_delta: OnDelta, on_tool: OnTool
    ) -> AgentResult:
        """The wait for a slot and the call both end before the turn's deadline (minus the reserve),
        so no slot is held past it; the agent's own budget, if any, bounds the call alone."""
        async with self.pipeline.guard(agent, tenant, f"the {agent} agent"):
            return await self._call(agent, task, token, on_delta, on_tool)

    async def _call(self, agent: str, task: AgentTask, token: str, on_delta: OnDelta, on_tool: OnTool) -> AgentResult:
        """On the least busy healthy replica; a replica that cannot be reached hands over to the next.

        A replica that dies mid-call (its stream breaks) hands over too, unless it already
        reported a tool call: tools may have side effects, text does not. A stream consumer may
        then see the lost attempt's partial text before the full answer; the done event holds
        the answer that counts.
        """
        tried: list[str] = []
        last_error: MeshlineError | None = None
        while True:
            try:
                url = await self.registry.pick(agent, exclude=tried)
            except ServiceUnavailable:
                if last_error is None:
                    raise
                raise last_error from None
            used_tools = False

            def relay_tool(name: str, call: ToolCallRecord) -> Awaitable[None] | None:
                nonlocal used_tools
                used_tools = True
                return on_tool(name, call)

            try:
                with self.registry.lease(url):
                    return await self._call_instance(url, agent, task, token, on_delta, relay_tool)
            except MeshlineError as exc:
                lost = exc.code == "connect_failed" or (exc.code in REPLICA_LOST and not used_tools)
                if not lost:  # the request may have done work there: not safe to repeat
                    raise
                log.warning("%s at %s failed (%s), trying another replica", agent, url, exc.code)
                tried.append(url)
                last_error = exc

    async def _call_instance(
        self, url: str, agent: str, task: AgentTask, token: str, on_delta: OnDelta, on_tool: OnTool
    ) -> AgentResult:
        async with self.client.stream(
            "POST",
            f"{url}/v1/invoke",
            json=task.model_dump(mode="json"),
            token=token,
            headers={"accept": SSE_MEDIA_TYPE},
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for_problem(response)
            async for message in aiter_sse(response):
                payload = json.loads(message.data)
                if message.event == "delta":
                    await _maybe_await(on_delta(agent, str(payload.get("text", ""))))
                elif message.event == "tool":
                    await _maybe_await(on_tool(agent, ToolCallRecord.model_validate(payload["call"])))
                elif message.event == "result":
                    try:
                        return AgentResult.model_validate(payload["result"])
                    except (ValidationError, KeyError) as exc:
                        raise UpstreamError(f"{agent} sent an invalid result: {exc}") from exc
                elif message.event == "error":
                    raise MeshlineError(
                        str(payload.get("detail", "agent error")),
                        code=str(payload.get("code", "agent_error")),
                        status=502,
                        retryable=bool(payload.get("retryable", False)),
                    )
        raise UpstreamError(f"{agent} closed its stream without a result", code="incomplete_stream")


def _for_fallback(task: AgentTask, agent: str, failure: MeshlineError) -> AgentTask:
    """The task for the fallback agent, told plainly what it stands in for so it does not pretend."""
    note = (
        f"The {agent} assistant, which normally handles this request, is unavailable right now "
        f"({failure.code}). Help with what you can, and say plainly that {agent} requests cannot be "
        "carried out at the moment; never claim to have done them."
    )
    messages = [{"role": "system", "content": note}, *task.messages]
    return task.model_copy(update={"messages": messages})


async def _maybe_await(value: Awaitable[None] | None) -> None:
    if value is not None:
        await value
