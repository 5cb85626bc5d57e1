"""``CallPipeline``: the one place where an outbound call's protections are put together.

Every hop between services is protected the same way, outermost first: the target's circuit
breaker (a target that keeps failing is refused at once), the caller's deadline less a reserve
(no wait outlives the turn), a bulkhead slot shared fairly between tenants (one slow target
cannot hold every connection), the target's own time budget, and finally the
:class:`ServiceClient` call with its per-attempt timeout and its retry rules (retried only when
the failure is retryable and the call is safe to repeat, within the retry budget). A caller
says which of these apply by the :class:`CallPolicy` it builds the pipeline with; the order and
the rules are written once, here.

Callers: orchestrator dispatch (breaker, reserve, bulkhead, per-agent budget), an agent's calls
to the LLM layer and to tool services (breaker), the knowledge agent's searches in memory
(breaker).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from meshline.resilience.bulkhead import Bulkhead
from meshline.resilience.circuit_breaker import CircuitBreaker
from meshline.resilience.client import ServiceClient, raise_for_problem
from meshline.resilience.deadlines import before_deadline, within_budget


@dataclass(frozen=True)
class CallPolicy:
    """Which protections a kind of call gets; ``None`` leaves one out.

    ``reserve_s`` is kept back from the request's deadline (the wait for a slot and the call end
    before it); ``budgets`` maps a target to its own time budget, counted from when the call
    starts (after the wait for a slot).
    """

    breaker: CircuitBreaker | None = None
    bulkhead: Bulkhead | None = None
    reserve_s: float | None = None
    budgets: Mapping[str, float] = field(default_factory=dict)


class CallPipeline:
    """Calls through a :class:`CallPolicy`; ``client`` is the hop's :class:`ServiceClient`."""

    def __init__(self, client: ServiceClient | None, policy: CallPolicy | None = None) -> None:
        self._client = client
        self.policy = policy or CallPolicy()

    @property
    def client(self) -> ServiceClient:
        if self._client is None:
            raise RuntimeError("this pipeline guards calls made by another client; it has no ServiceClient")
        return self._client

    @asynccontextmanager
    async def guard(self, target: str, tenant: str | None = None, what: str | None = None) -> AsyncIterator[None]:
        """The protections around one call to ``target`` made inside the block (any transport)."""
        policy, what = self.policy, what or target
        async with AsyncExitStack() as stack:
            if policy.breaker is not None:
                await stack.enter_async_context(policy.breaker.guard(target))
            if policy.reserve_s is not None:
                await stack.enter_async_context(before_deadline(policy.reserve_s, what))
            if policy.bulkhead is not None:
                await stack.enter_async_context(policy.bulkhead.slot(target, tenant))
            await stack.enter_async_context(within_budget(policy.budgets.get(target), what))
            yield

    async def request(self, target: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call with the client's timeout and retries inside the guard; an error response
        raises (inside the guard, so the breaker counts it) as the matching MeshlineError."""
        async with self.guard(target):
            response = await self.client.request(method, url, **kwargs)
            raise_for_problem(response)
            return response

    @asynccontextmanager
    async def stream(self, target: str, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A streamed call inside the guard: the breaker counts what happens while it is read too.
        An error status raises before the block runs."""
        async with self.guard(target), self.client.stream(method, url, **kwargs) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for_problem(response)
            yield response
