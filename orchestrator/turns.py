"""Runs one chat turn through the graph, as a whole reply or as a stream of events.

Owns what surrounds the graph: the thread key (built from the actor's tenant and user, so nobody
can read another's thread by guessing its id), the turn's deadline, and a per-thread lock so that
two concurrent turns on one thread cannot interleave.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from redis.asyncio import Redis

from meshline.contracts import (
    ChatMessage,
    ChatResponse,
    Citation,
    DeltaEvent,
    DoneEvent,
    ResetEvent,
    RouteDecision,
    RouteEvent,
    ThreadView,
    ToolCallRecord,
    ToolEvent,
    Usage,
)
from meshline.errors import DeadlineExceeded, MeshlineError, NotFound
from meshline.orchestrator.identity import Actor
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.shown_text import GraphEvent, ShownText
from meshline.orchestrator.thread_locks import ThreadLocks
from meshline.orchestrator.turn_state import StoredMessage, TurnState, new_turn_input, stored
from meshline.resilience import TurnTimeouts
from meshline.service import current_context

log = logging.getLogger(__name__)
TurnEvent = RouteEvent | DeltaEvent | ResetEvent | ToolEvent | DoneEvent


class TurnRunner:
    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        registry: ServiceRegistry,
        redis: Redis,
        default_timeout_s: float,
        min_timeout_s: float = TurnTimeouts.min_s,
        max_timeout_s: float = TurnTimeouts.max_s,
    ) -> None:
        self.graph = graph
        self.registry = registry
        self.redis = redis
        self.timeouts = TurnTimeouts(default_timeout_s, min_timeout_s, max_timeout_s)
        self.locks = ThreadLocks(redis)

    @staticmethod
    def _config(actor: Actor, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": actor.thread_key(thread_id), "tenant": actor.tenant, "user": actor.user}}

    async def stream(
        self,
        actor: Actor,
        message: str,
        *,
        thread_id: str | None = None,
        agent: str | None = None,
        timeout_s: float | None = None,
        seed: list[ChatMessage] | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """Run the turn, yielding route, delta and tool events, then one done event."""
        ctx = current_context()
        budget = self.timeouts.budget(timeout_s, ctx.remaining())  # 422 for a deadline it cannot meet
        if agent is not None and await self.registry.manifest(agent) is None:
            raise NotFound(f"no agent named {agent!r} is registered", code="unknown_agent")
        thread_id = thread_id or uuid.uuid4().hex
        config = self._config(actor, thread_id)
        ctx.deadline = time.time() + budget
        turn_input = new_turn_input(message, agent)
        if seed:
            existing = await self.graph.aget_state(config)
            if not existing.values:
                turn_input["messages"] = [stored(m) for m in seed] + turn_input["messages"]
        final: TurnState = {}
        shown = ShownText()
        async with self.locks.hold(config["configurable"]["thread_id"], budget):
            try:
                async with asyncio.timeout(max(0.0, ctx.deadline - time.time())):
                    # One checkpoint write per turn ("exit"), not one per node: a third less orchestrator
                    # CPU per turn. An error still saves the turn; only a hard crash mid-turn loses it.
                    async for mode, payload in self.graph.astream(
                        turn_input, config, stream_mode=["custom", "values"], durability="exit"
                    ):
                        if mode == "custom":
                            event = cast(GraphEvent, payload)
                            shown.apply(event)
                            yield self._event(thread_id, event)
                        else:
                            final = cast(TurnState, payload)
            except TimeoutError as exc:
                error = DeadlineExceeded(f"the turn did not finish within {budget:.0f}s", code="turn_timeout")
                await self._record_failure(config, shown, error.code)
                raise error from exc
            except Exception as exc:
                await self._record_failure(config, shown, exc.code if isinstance(exc, MeshlineError) else None)
                raise
        yield DoneEvent(response=self._response(thread_id, final))

    async def _record_failure(self, config: RunnableConfig, shown: ShownText, code: str | None) -> None:
        """A turn that failed before it was answered (its stream ends with an ``error`` event) is
        stored as what the stream showed, marked with the failure, and never as text nobody saw."""
        message: StoredMessage = {"role": "assistant", "content": shown.joined(), "error": code or MeshlineError.code}
        agents = [agent for agent in shown.by_agent if agent]
        if agents:
            message["agent"] = ",".join(agents)
        try:
            # As the last node: the thread's next turn starts afresh instead of resuming this one.
            update: TurnState = {"messages": [message], "reply": message["content"]}
            await self.graph.aupdate_state(config, update, as_node="remember")
        except Exception as exc:  # the turn's own error is what the caller gets
            log.warning("the failed turn could not be recorded: %s", exc)

    @staticmethod
    async def collect(events: AsyncIterator[TurnEvent]) -> ChatResponse:
        """The done event's response, for callers that want the whole reply at once."""
        async for event in events:
            if isinstance(event, DoneEvent):
                return event.response
        raise RuntimeError("turn ended without a done event")

    @staticmethod
    def _event(thread_id: str, event: GraphEvent) -> TurnEvent:
        """The caller's event for what the graph wrote: the route gets the caller's thread id."""
        if isinstance(event, RouteDecision):
            return RouteEvent(thread_id=thread_id, route=event)
        return event

    @staticmethod
    def _response(thread_id: str, state: TurnState) -> ChatResponse:
        results = state.get("results", [])
        citations: list[Citation] = [c for r in results for c in r.citations]
        tool_calls: list[ToolCallRecord] = [t for r in results for t in r.tool_calls]
        usage = sum((r.usage for r in results), Usage())
        return ChatResponse(
            thread_id=thread_id,
            turn_id=state["turn_id"],
            content=state.get("reply", ""),
            route=state["route"],
            citations=citations,
            tool_calls=tool_calls,
            usage=usage,
            trace_id=current_context().trace_id,
            degraded=bool(state.get("errors")),
            fallbacks={r.fallback_for: r.agent for r in results if r.fallback_for},
        )

    async def thread(self, actor: Actor, thread_id: str) -> ThreadView:
        snapshot = await self.graph.aget_state(self._config(actor, thread_id))
        if not snapshot.values:
            raise NotFound(f"no thread {thread_id!r}", code="unknown_thread")
        messages = [ChatMessage.model_validate(m) for m in snapshot.values.get("messages", [])]
        return ThreadView(thread_id=thread_id, messages=messages, updated_at=snapshot.created_at)

    async def delete_thread(self, actor: Actor, thread_id: str) -> None:
        await self.thread(actor, thread_id)  # 404 when absent or not the caller's
        checkpointer = self.graph.checkpointer
        assert checkpointer is not None and not isinstance(checkpointer, bool)
        await checkpointer.adelete_thread(actor.thread_key(thread_id))
