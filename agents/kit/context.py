"""What an agent's handler is given: the task's context and the process's clients.

A handler is ``async def handle(task: AgentTask, ctx: AgentContext)`` yielding
:class:`AgentDelta` / :class:`AgentToolEvent` events and finally one :class:`AgentResultEvent`
(or just the result: :meth:`AgentContext.result` builds one). The same handler answers the JSON
and the SSE form of ``POST /v1/invoke``; ``ctx.stream`` says whether deltas are wanted.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI

from meshline.agents.kit.knowledge import KnowledgeClient
from meshline.agents.kit.llm import CompletionRequest, LLMLayer, LLMTurn
from meshline.agents.kit.settings import AgentSettings
from meshline.contracts import AgentDelta, AgentResult, AgentResultEvent, AgentTask, AgentToolEvent, SearchHit
from meshline.errors import UpstreamError
from meshline.resilience import CallPipeline, CircuitBreaker, ServiceClient

AgentStreamEvent = AgentDelta | AgentToolEvent | AgentResultEvent


@dataclass(frozen=True)
class AgentClients:
    """One per agent process, made by the kit at startup: its outbound clients and their breaker.

    One breaker serves every target the agent calls (``llm``, ``memory``, each tool service by
    name); ``pipeline`` guards calls with it, so any further client an agent builds (a tool
    catalog) is protected the same way.
    """

    app: FastAPI
    settings: AgentSettings
    http: ServiceClient
    breaker: CircuitBreaker
    pipeline: CallPipeline
    llm: LLMLayer
    knowledge: KnowledgeClient


class Handler(Protocol):
    """An agent's turn: events for ``task``, the last of them its result."""

    def __call__(self, task: AgentTask, ctx: AgentContext) -> AsyncGenerator[AgentStreamEvent, None]: ...


@dataclass(frozen=True)
class AgentContext:
    """One task's view of the kit: whether to stream, its clients with the task's tokens."""

    task: AgentTask
    clients: AgentClients
    stream: bool

    @property
    def name(self) -> str:
        """The agent's service name (``AgentResult.agent``)."""
        return self.clients.settings.name

    @property
    def llm(self) -> LLMLayer:
        return self.clients.llm

    def llm_turn(
        self, request: CompletionRequest, headers: dict[str, str] | None = None
    ) -> AsyncGenerator[AgentDelta | LLMTurn, None]:
        """One LLM call with the task's LLM token: deltas when streaming, then the whole turn."""
        return self.clients.llm.turn(request, headers, token=self.task.tokens.llm, stream=self.stream)

    async def search(self, query: str, collection: str, k: int) -> list[SearchHit]:
        """The tenant's knowledge base, searched with the task's memory token."""
        return await self.clients.knowledge.search(query, collection, k, token=self.task.tokens.memory)

    def result(self, content: str, **fields: Any) -> AgentResultEvent:
        """The result event of this task (``fields``: citations, usage, handoff, pending, ...)."""
        return AgentResultEvent(
            result=AgentResult(task_id=self.task.task_id, agent=self.name, content=content, **fields)
        )

    async def answer(self, request: CompletionRequest, **fields: Any) -> AsyncGenerator[AgentStreamEvent, None]:
        """The model's answer to ``request`` as this task's reply: its deltas, then the result."""
        turn: LLMTurn | None = None
        async with aclosing(self.llm_turn(request)) as items:
            async for item in items:
                if isinstance(item, LLMTurn):
                    turn = item
                else:
                    yield item
        if turn is None:
            raise UpstreamError("the LLM step produced no answer", code="bad_llm_response")
        yield self.result(turn.content, usage=turn.usage, **fields)


async def run_to_result(events: AsyncGenerator[AgentStreamEvent, None]) -> AgentResult:
    """The result event of a handler's events (the JSON answer)."""
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, AgentResultEvent):
                return event.result
    raise UpstreamError("the agent produced no result", code="bad_llm_response")
