"""The orchestrator's LangGraph graph: recall -> route -> dispatch -> compose -> remember.

State is checkpointed per thread, so a thread's history survives restarts. Nodes emit
``route``/``delta``/``tool`` events through LangGraph's custom stream, which the turn runner
relays to the caller as they happen.
"""

from __future__ import annotations

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
from langgraph.types import Send
from prometheus_client import Histogram

from meshline.contracts.agent import AgentResult, AgentTask, ToolCallRecord
from meshline.contracts.chat import RouteDecision
from meshline.contracts.confirmation import Reply, classify
from meshline.orchestrator.dispatch import AgentCaller
from meshline.orchestrator.memory_client import MemoryClient
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.routing import RoutePlan, Router
from meshline.orchestrator.shown_text import ShownText, delta_payload, reset_payload
from meshline.service.auth import ServiceTokenIssuer
from meshline.service.background import BackgroundTasks
from meshline.service.scopes import LLM_CALL, MEMORIES_READ, MEMORIES_WRITE


def per_turn(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results of parallel dispatches add up; the turn's input (an empty list) starts afresh."""
    return [*left, *right] if right else []


def per_turn_errors(left: dict[str, str], right: dict[str, str]) -> dict[str, str]:
    return {**left, **right} if right else {}


class TurnState(TypedDict, total=False):
    messages: Annotated[list[dict[str, Any]], operator.add]  # the whole thread, appended per turn
    message: str  # this turn's user message
    turn_id: str
    pinned: str | None
    memories: list[str]
    route: dict[str, Any]
    parts: dict[str, str]  # agent -> the part of the message it handles (several on multi-intent)
    target: str  # set only in a dispatch's Send: the one agent it calls
    results: Annotated[list[dict[str, Any]], per_turn]
    errors: Annotated[dict[str, str], per_turn_errors]
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
    def memory_token(config: RunnableConfig, scope: str) -> str:
        tenant, user = _who(config)
        return deps.issuer.issue(tenant=tenant, user=user, scopes=[scope], audience="memory")

    async def recall(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        memories = await deps.memory.recall(state["message"], deps.recall_k, memory_token(config, MEMORIES_READ))
        return {"memories": memories}

    async def route(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        tenant, user = _who(config)
        previous = previous_agent(state["messages"])
        if await answers_open_question(state, config, previous):
            # An answer to an agent's question belongs to that agent, however it would route alone.
            assert previous is not None
            plan = RoutePlan(RouteDecision(agents=[previous], method="sticky", confidence=1.0))
        else:
            agents = [e.manifest for e in await deps.registry.list(kind="agent")]
            plan = await deps.router.decide(
                state["message"],
                agents,
                pinned=state.get("pinned"),
                previous=previous,
                token=deps.issuer.issue(tenant=tenant, user=user, scopes=[LLM_CALL], audience="llm"),
            )
        # The user moved on to another agent: a question left open elsewhere is closed, so a later
        # "yes" meant for something else cannot confirm it.
        thread_key = str(config.get("configurable", {}).get("thread_id", ""))
        left = [a for a in last_agents(state["messages"]) if a not in plan.decision.agents]
        await deps.caller.pending.drop([deps.caller.pending.key(thread_key, a) for a in left])
        get_stream_writer()({"type": "route", "route": plan.decision.model_dump()})
        return {"route": plan.decision.model_dump(), "parts": plan.parts}

    async def answers_open_question(state: TurnState, config: RunnableConfig, previous: str | None) -> bool:
        """A reply that reads like an answer (yes, no, or an unclear one), to a question still open."""
        if state.get("pinned") or previous is None or classify(state["message"]) is Reply.UNRELATED:
            return False
        thread_key = str(config.get("configurable", {}).get("thread_id", ""))
        return await deps.caller.pending.get(deps.caller.pending.key(thread_key, previous)) is not None

    def fan_out(state: TurnState) -> list[Send]:
        """One dispatch per chosen agent, run in parallel; each sees only its part of the message."""
        return [Send("dispatch", {**state, "target": agent}) for agent in state["route"]["agents"]]

    async def dispatch(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        tenant, user = _who(config)
        writer = get_stream_writer()
        agent = state["target"]
        history = [
            {"role": m["role"], "content": m["content"]} for m in state["messages"][-(deps.history_messages + 1) :]
        ]
        history[-1]["content"] = state.get("parts", {}).get(agent, state["message"])
        task = AgentTask(
            task_id=state["turn_id"],
            thread_id=str(config.get("configurable", {}).get("thread_id", "")),
            messages=history,
            memories=state.get("memories", []),
        )

        shown = ShownText()

        def show(payload: dict[str, Any]) -> None:
            shown.apply(payload)
            writer(payload)

        def on_delta(source: str, text: str) -> None:
            if source != agent and shown.text(agent):  # a fallback answers: the target's partial text is void
                show(reset_payload(agent, "failed"))
            show(delta_payload(source, text))

        def on_tool(agent: str, call: ToolCallRecord) -> None:
            writer({"type": "tool", "agent": agent, "call": call.model_dump(mode="json")})

        result, error = await deps.caller.invoke(
            agent, task, tenant=tenant, user=user, on_delta=on_delta, on_tool=on_tool
        )
        # What was streamed must end as what is stored: a failed attempt's text, another replica's
        # restart or a degraded reply nobody saw are put right before compose stores the reply.
        for payload in shown.reconcile(result.agent, result.content, failed=error is not None):
            writer(payload)
        # Omit "errors" when there are none: an empty dict would reset a parallel dispatch's.
        update: dict[str, Any] = {"results": [result.model_dump(mode="json")]}
        if error is not None:
            update["errors"] = {agent: error}
        return update

    async def compose(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        order = {a: i for i, a in enumerate(state["route"]["agents"])}  # parallel dispatches finish in any order
        results = sorted((AgentResult.model_validate(r) for r in state["results"]), key=lambda r: order.get(r.agent, 0))
        reply = "\n\n".join(r.content.strip() for r in results if r.content.strip())
        message: dict[str, Any] = {"role": "assistant", "content": reply, "agent": ",".join(r.agent for r in results)}
        if state.get("errors"):  # a fallback's or a degraded reply: the thread says so, as the response does
            message["degraded"] = True
        return {"reply": reply, "messages": [message]}

    async def remember(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        # Off the reply's critical path: the memory service queues the write on its stream anyway.
        thread_id = str(config.get("configurable", {}).get("thread_id", ""))
        write = deps.memory.remember(
            state["message"],
            {"thread_id": thread_id, "role": "user", "turn_id": state["turn_id"]},
            memory_token(config, MEMORIES_WRITE),
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
    # recall and route are independent: they run in parallel; `plan` joins them so that the
    # fan-out sees both the route and the memories (a branch of `route` alone would not).
    graph.add_node("plan", join)
    graph.add_edge(START, "recall")
    graph.add_edge(START, "route")
    graph.add_edge(["recall", "route"], "plan")
    graph.add_conditional_edges("plan", fan_out, ["dispatch"])
    graph.add_edge("dispatch", "compose")
    graph.add_edge("compose", "remember")
    graph.add_edge("remember", END)
    return graph.compile(checkpointer=checkpointer)


async def join(state: TurnState) -> dict[str, Any]:
    return {}


def last_agents(messages: list[dict[str, Any]]) -> list[str]:
    """The agents that answered the thread's previous turn (several after a fan-out)."""
    for message in reversed(messages):
        if message.get("role") == "assistant":
            return [a for a in str(message.get("agent") or "").split(",") if a]
    return []


def previous_agent(messages: list[dict[str, Any]]) -> str | None:
    """The agent that answered the thread's previous turn alone (None after a fan-out or at the start)."""
    for message in reversed(messages):
        if message.get("role") == "assistant":
            agent = message.get("agent")
            return str(agent) if agent and "," not in str(agent) else None
    return None


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
        "parts": {},
    }
