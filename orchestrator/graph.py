"""The orchestrator's LangGraph graph: recall -> route -> dispatch -> compose -> remember.

State is checkpointed per thread, so a thread's history survives restarts. Nodes emit
``route``/``delta``/``tool`` events through LangGraph's custom stream, which the turn runner
relays to the caller as they happen.
"""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from prometheus_client import Histogram

from meshline.contracts.agent import AgentResult, AgentTask, ToolCallRecord
from meshline.orchestrator.dispatch import AgentCaller
from meshline.orchestrator.memory_client import MemoryClient
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.router import Router
from meshline.service.auth import ServiceTokenIssuer
from meshline.service.background import BackgroundTasks


class TurnState(TypedDict, total=False):
    messages: Annotated[list[dict[str, Any]], operator.add]  # the whole thread, appended per turn
    message: str  # this turn's user message
    turn_id: str
    pinned: str | None
    memories: list[str]
    route: dict[str, Any]
    results: list[dict[str, Any]]
    errors: dict[str, str]
    reply: str


Node = Callable[[TurnState, RunnableConfig], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class GraphDeps:
    registry: ServiceRegistry
    router: Router
    caller: AgentCaller
    memory: MemoryClient
    issuer: ServiceTokenIssuer
    history_messages: int
    recall_k: int
    node_seconds: Histogram  # labelled by node
    background: BackgroundTasks


def timed(name: str, node: Node, histogram: Histogram) -> Node:
    """Record each node's duration: where a turn's time goes is the first question in production."""

    async def run(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return await node(state, config)
        finally:
            histogram.labels(name).observe(time.perf_counter() - start)

    return run


def _who(config: RunnableConfig) -> tuple[str, str]:
    configurable = config.get("configurable", {})
    return str(configurable["tenant"]), str(configurable["user"])


def build_graph(deps: GraphDeps, checkpointer: BaseCheckpointSaver[str]) -> CompiledStateGraph[Any, Any, Any, Any]:
    def memory_token(config: RunnableConfig) -> str:
        tenant, user = _who(config)
        return deps.issuer.issue(tenant=tenant, user=user, scopes=["chat"], audience=["memory"])

    async def recall(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        memories = await deps.memory.recall(state["message"], deps.recall_k, memory_token(config))
        return {"memories": memories}

    async def route(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        agents = [e.manifest for e in await deps.registry.list(kind="agent")]
        decision = deps.router.route(state["message"], agents, state.get("pinned"))
        get_stream_writer()({"type": "route", "route": decision.model_dump()})
        return {"route": decision.model_dump()}

    async def dispatch(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        tenant, user = _who(config)
        writer = get_stream_writer()
        history = state["messages"][-(deps.history_messages + 1) :]
        task = AgentTask(
            task_id=state["turn_id"],
            thread_id=str(config.get("configurable", {}).get("thread_id", "")),
            messages=[{"role": m["role"], "content": m["content"]} for m in history],
            memories=state.get("memories", []),
        )

        def on_delta(agent: str, text: str) -> None:
            writer({"type": "delta", "agent": agent, "text": text})

        def on_tool(agent: str, call: ToolCallRecord) -> None:
            writer({"type": "tool", "agent": agent, "call": call.model_dump(mode="json")})

        agents: list[str] = state["route"]["agents"]
        outcomes = await asyncio.gather(
            *(deps.caller.invoke(a, task, tenant=tenant, user=user, on_delta=on_delta, on_tool=on_tool) for a in agents)
        )
        results = [r.model_dump(mode="json") for r, _ in outcomes]
        errors = {r.agent: e for r, e in outcomes if e is not None}
        return {"results": results, "errors": errors}

    async def compose(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        results = [AgentResult.model_validate(r) for r in state["results"]]
        reply = "\n\n".join(r.content.strip() for r in results if r.content.strip())
        agent = ",".join(r.agent for r in results)
        return {"reply": reply, "messages": [{"role": "assistant", "content": reply, "agent": agent}]}

    async def remember(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        # Off the reply's critical path: the memory service queues the write on its stream anyway.
        thread_id = str(config.get("configurable", {}).get("thread_id", ""))
        write = deps.memory.remember(
            state["message"],
            {"thread_id": thread_id, "role": "user", "turn_id": state["turn_id"]},
            memory_token(config),
            memory_id=f"turn-{state['turn_id']}",
        )
        deps.background.spawn(write, name=f"remember-{state['turn_id']}")
        return {}

    graph = StateGraph(TurnState)
    for name, node in (
        ("recall", recall),
        ("route", route),
        ("dispatch", dispatch),
        ("compose", compose),
        ("remember", remember),
    ):
        # LangGraph's overloads match nodes by parameter names, which a Callable type has not.
        graph.add_node(name, timed(name, node, deps.node_seconds))  # type: ignore[call-overload]
    graph.add_edge(START, "recall")
    graph.add_edge("recall", "route")
    graph.add_edge("route", "dispatch")
    graph.add_edge("dispatch", "compose")
    graph.add_edge("compose", "remember")
    graph.add_edge("remember", END)
    return graph.compile(checkpointer=checkpointer)


def new_turn_input(message: str, pinned: str | None) -> dict[str, Any]:
    turn_id = uuid.uuid4().hex
    return {
        "messages": [{"role": "user", "content": message}],
        "message": message,
        "turn_id": turn_id,
        "pinned": pinned,
        "results": [],
        "errors": {},
        "memories": [],
    }
