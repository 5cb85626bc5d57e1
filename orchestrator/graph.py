"""The orchestrator's LangGraph graph: one turn as named nodes, read top to bottom.

    START -> recall --+
    START -> route ---+-> plan -> dispatch (one per chosen agent, in parallel) -> compose -> remember -> END

Each node is a method of :class:`TurnGraph` that takes the whole :class:`TurnState` and returns
the part it changes. State is checkpointed per thread, so a thread's history survives restarts.
Nodes write ``GraphEvent``s (the route, deltas, resets, tool calls) to LangGraph's custom stream,
which the turn runner relays to the caller as they happen.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send
from prometheus_client import Histogram

from meshline.confirmation import Reply, classify
from meshline.contracts import AgentResult, AgentTask, RouteDecision
from meshline.json_types import JsonObject
from meshline.orchestrator.dispatch import AgentCaller
from meshline.orchestrator.dispatch_outcome import DispatchFailure
from meshline.orchestrator.memory_client import MemoryClient
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.routing import RoutePlan, Router
from meshline.orchestrator.shown_text import DispatchRelay
from meshline.orchestrator.turn_state import StoredMessage, TurnState, last_agents, previous_agent
from meshline.service import LLM_CALL, MEMORIES_READ, MEMORIES_WRITE, BackgroundTasks, ServiceTokenIssuer

Update = TypeVar("Update")


class Recalled(TypedDict):
    memories: list[str]


class Routed(TypedDict):
    route: RouteDecision
    parts: dict[str, str]


class Dispatched(TypedDict, total=False):
    results: list[AgentResult]
    errors: dict[str, DispatchFailure]  # left out when the agent answered: {} would reset a parallel dispatch's


class Composed(TypedDict):
    reply: str
    messages: list[StoredMessage]


class Nothing(TypedDict):
    pass


@dataclass(frozen=True)
class GraphDeps:
    """What the nodes call: the registry, the router, the agents, the memory service, the token issuer."""

    registry: ServiceRegistry
    router: Router
    caller: AgentCaller
    memory: MemoryClient
    issuer: ServiceTokenIssuer
    history_messages: int
    recall_k: int
    node_seconds: Histogram  # labelled by node
    background: BackgroundTasks


@dataclass(frozen=True)
class Who:
    """Whose turn it is, from the run's config (set by the turn runner)."""

    tenant: str
    user: str
    thread_key: str  # the checkpoint's thread id, which names tenant and user too

    @classmethod
    def of(cls, config: RunnableConfig) -> Who:
        configurable = config.get("configurable", {})
        return cls(str(configurable["tenant"]), str(configurable["user"]), str(configurable.get("thread_id", "")))


class TurnGraph:
    """The nodes of one turn, in the order a turn runs them."""

    def __init__(self, deps: GraphDeps) -> None:
        self.deps = deps

    def _token(self, who: Who, scope: str, audience: str) -> str:
        return self.deps.issuer.issue(tenant=who.tenant, user=who.user, scopes=[scope], audience=audience)

    async def recall(self, state: TurnState, config: RunnableConfig) -> Recalled:
        """The user's memories that bear on this message."""
        token = self._token(Who.of(config), MEMORIES_READ, "memory")
        return {"memories": await self.deps.memory.recall(state["message"], self.deps.recall_k, token)}

    async def route(self, state: TurnState, config: RunnableConfig) -> Routed:
        """Which agents answer, and the part of the message each one handles."""
        who = Who.of(config)
        plan = await self._plan(state, who)
        # The user moved on to another agent: a question left open elsewhere is closed, so a later
        # "yes" meant for something else cannot confirm it.
        pending = self.deps.caller.pending
        left = [a for a in last_agents(state["messages"]) if a not in plan.decision.agents]
        await pending.drop([pending.key(who.thread_key, a) for a in left])
        get_stream_writer()(plan.decision)
        return {"route": plan.decision, "parts": plan.parts}

    async def _plan(self, state: TurnState, who: Who) -> RoutePlan:
        previous = previous_agent(state["messages"])
        if previous is not None and await self._answers_open_question(state, who, previous):
            # An answer to an agent's question belongs to that agent, however it would route alone.
            return RoutePlan(RouteDecision(agents=[previous], method="sticky", confidence=1.0))
        agents = [e.manifest for e in await self.deps.registry.list(kind="agent")]
        return await self.deps.router.decide(
            state["message"],
            agents,
            pinned=state.get("pinned"),
            previous=previous,
            token=self._token(who, LLM_CALL, "llm"),
        )

    async def _answers_open_question(self, state: TurnState, who: Who, previous: str) -> bool:
        """A reply that reads like an answer (yes, no, or an unclear one), to a question still open."""
        if state.get("pinned") or classify(state["message"]) is Reply.UNRELATED:
            return False
        pending = self.deps.caller.pending
        return await pending.get(pending.key(who.thread_key, previous)) is not None

    @staticmethod
    async def plan(state: TurnState) -> Nothing:
        """Joins recall and route, so that the fan-out sees both the route and the memories."""
        return {}

    @staticmethod
    def fan_out(state: TurnState) -> list[Send]:
        """One dispatch per chosen agent, run in parallel; each sees only its part of the message."""
        return [Send("dispatch", {**state, "target": agent}) for agent in state["route"].agents]

    async def dispatch(self, state: TurnState, config: RunnableConfig) -> Dispatched:
        """The ``target`` agent's answer (or its fallback's, or a degraded reply), streamed as it comes."""
        who = Who.of(config)
        agent = state["target"]
        relay = DispatchRelay(agent, get_stream_writer())
        outcome = await self.deps.caller.invoke(
            agent,
            self._task(state, who, agent),
            tenant=who.tenant,
            user=who.user,
            on_delta=relay.on_delta,
            on_tool=relay.on_tool,
        )
        # What was streamed must end as what is stored: a failed attempt's text, another replica's
        # restart or a degraded reply nobody saw are put right before compose stores the reply.
        relay.settle(outcome.result.agent, outcome.result.content, failed=outcome.failure is not None)
        if outcome.failure is None:
            return {"results": [outcome.result]}
        return {"results": [outcome.result], "errors": {agent: outcome.failure}}

    def _task(self, state: TurnState, who: Who, agent: str) -> AgentTask:
        """The recent history, its last message cut to the part ``agent`` handles, and the memories."""
        recent = state["messages"][-(self.deps.history_messages + 1) :]
        history: list[JsonObject] = [{"role": m["role"], "content": m["content"]} for m in recent]
        history[-1]["content"] = state.get("parts", {}).get(agent, state["message"])
        return AgentTask(
            task_id=state["turn_id"], thread_id=who.thread_key, messages=history, memories=state.get("memories", [])
        )

    @staticmethod
    async def compose(state: TurnState) -> Composed:
        """One reply from the agents' answers, in the route's order, appended to the thread."""
        order = {a: i for i, a in enumerate(state["route"].agents)}  # parallel dispatches finish in any order
        results = sorted(state["results"], key=lambda r: order.get(r.agent, 0))
        reply = "\n\n".join(r.content.strip() for r in results if r.content.strip())
        message: StoredMessage = {"role": "assistant", "content": reply, "agent": ",".join(r.agent for r in results)}
        if state.get("errors"):  # a fallback's or a degraded reply: the thread says so, as the response does
            message["degraded"] = True
        return {"reply": reply, "messages": [message]}

    async def remember(self, state: TurnState, config: RunnableConfig) -> Nothing:
        """The user's message, written to memory off the reply's critical path."""
        who = Who.of(config)
        # The memory service queues the write on its stream anyway: nobody waits for it.
        write = self.deps.memory.remember(
            state["message"],
            {"thread_id": who.thread_key, "role": "user", "turn_id": state["turn_id"]},
            self._token(who, MEMORIES_WRITE, "memory"),
            memory_id=f"turn-{state['turn_id']}",
        )
        self.deps.background.spawn(write, name=f"remember-{state['turn_id']}")
        return {}

    def compile(self, checkpointer: BaseCheckpointSaver[str]) -> CompiledStateGraph[Any, Any, Any, Any]:
        graph = StateGraph(TurnState)
        nodes: dict[str, Callable[..., Awaitable[Any]]] = {
            "recall": self.recall,
            "route": self.route,
            "plan": self.plan,
            "dispatch": self.dispatch,
            "compose": self.compose,
            "remember": self.remember,
        }
        for name, node in nodes.items():
            graph.add_node(name, timed(name, node, self.deps.node_seconds))
        # recall and route are independent: they run in parallel; `plan` joins them (a branch of
        # `route` alone would fan out before the memories are in).
        graph.add_edge(START, "recall")
        graph.add_edge(START, "route")
        graph.add_edge(["recall", "route"], "plan")
        graph.add_conditional_edges("plan", self.fan_out, ["dispatch"])
        graph.add_edge("dispatch", "compose")
        graph.add_edge("compose", "remember")
        graph.add_edge("remember", END)
        return graph.compile(checkpointer=checkpointer)


def timed(name: str, node: Callable[..., Awaitable[Update]], histogram: Histogram) -> Callable[..., Awaitable[Update]]:
    """Record each node's duration: where a turn's time goes is the first question in production."""

    @functools.wraps(node)  # LangGraph reads the node's signature: whether it takes a config, its state type
    async def run(*args: Any, **kwargs: Any) -> Update:
        start = time.perf_counter()
        try:
            return await node(*args, **kwargs)
        finally:
            histogram.labels(name).observe(time.perf_counter() - start)

    return run


def build_graph(deps: GraphDeps, checkpointer: BaseCheckpointSaver[str]) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The turn graph over ``deps``, checkpointed by ``checkpointer``."""
    return TurnGraph(deps).compile(checkpointer)
