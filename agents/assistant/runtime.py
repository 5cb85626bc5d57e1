"""The assistant runtime: one agent turn, from an AgentTask to an AgentResult, as a stream of events.

A task becomes LLM messages (profile system prompt, what the mesh remembers about the user,
the conversation); each *step* is one LLM call offered the tools of the task's bindings. While
the model asks for tools, they run (through :class:`ToolCatalog`) and their results, errors
included, go back to the model, up to ``profile.max_steps`` LLM calls. A side-effecting tool
is not run when asked for: the agent asks the user to confirm and returns the call as pending
(see :mod:`confirmation`); the next turn's yes runs exactly that call. The runtime is the
agent kit's handler (:meth:`AssistantRuntime.events`): the kit serves its JSON and SSE answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field

from meshline.agents.assistant.confirmation import (
    last_user_text,
    new_call_id,
    question,
    reask,
    reminder,
)
from meshline.agents.assistant.profile import Profile
from meshline.agents.assistant.tool_catalog import BoundTool, ToolCatalog, idempotency_key, parse_arguments
from meshline.agents.kit import AgentContext, AgentStreamEvent, CompletionRequest, LLMToolCall, LLMTurn
from meshline.confirmation import Reply, classify
from meshline.contracts import (
    AgentDelta,
    AgentResult,
    AgentResultEvent,
    AgentTask,
    AgentToolEvent,
    PendingCall,
    ToolCallRecord,
    Usage,
)
from meshline.errors import MeshlineError, UpstreamError
from meshline.json_types import JsonObject

MEMORIES_HEADER = "What you know about this user:"
MAX_MEMORIES = 20
MAX_MEMORY_CHARS = 500
MAX_TOOL_RESULT_CHARS = 6000  # what one tool result may take of the model's context
CANCELLED = "Okay, I have not done that; nothing was changed."


def system_message(profile: Profile, memories: list[str]) -> JsonObject:
    """The profile's system prompt, plus a short block of recalled memories when there are any."""
    content = profile.system_prompt.strip()
    lines = [f"- {' '.join(m.split())[:MAX_MEMORY_CHARS]}" for m in memories[:MAX_MEMORIES] if m.strip()]
    if lines:
        content += "\n\n" + MEMORIES_HEADER + "\n" + "\n".join(lines)
    return {"role": "system", "content": content}


def tool_messages(call_id: str, name: str, arguments: JsonObject, record: ToolCallRecord) -> list[JsonObject]:
    """The assistant's call and the tool's answer, as the model expects to see them."""
    payload = record.result if record.status == "ok" else {"error": record.error}
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps(payload, default=str)[:MAX_TOOL_RESULT_CHARS]},
    ]


@dataclass
class TurnState:
    """What one task's turn has gathered so far. The step that produces the result ends the turn."""

    ctx: AgentContext
    agent: str
    tools: dict[str, BoundTool]
    messages: list[JsonObject]
    usage: Usage = field(default_factory=Usage)
    records: list[ToolCallRecord] = field(default_factory=list)
    kept: PendingCall | None = None  # an open question this turn leaves open (the user asked something else)
    done: bool = False

    def record(self, call: ToolCallRecord) -> AgentToolEvent:
        """A tool call of this turn, reported as it happens."""
        self.records.append(call)
        return AgentToolEvent(call=call)

    def ran(self, call: ToolCallRecord) -> AgentToolEvent:
        """A call that ran (or failed): reported, and its result goes back to the model."""
        self.messages += tool_messages(call.id, call.tool, call.arguments, call)
        return self.record(call)

    def own_text(self, text: str) -> list[AgentDelta]:
        """Text the agent writes itself, streamed like the model's: the deltas add up to the reply."""
        return [AgentDelta(text=text)] if self.ctx.stream and text else []

    def left_open(self, content: str) -> str:
        """What follows ``content``: a reminder of the question this turn left open, if any, so the
        user always sees what a yes would run."""
        if self.kept is None:
            return ""
        return f"\n\n{reminder(self.kept)}" if content.strip() else reminder(self.kept)

    def result(self, content: str, pending: PendingCall | None) -> AgentResultEvent:
        """The turn's result event; making it ends the turn (``done``)."""
        self.done = True
        return AgentResultEvent(
            result=AgentResult(
                task_id=self.ctx.task.task_id, agent=self.agent, content=content, usage=self.usage,
                tool_calls=self.records, pending=pending,
            )
        )  # fmt: skip

    def reply(self, text: str, pending: PendingCall | None) -> list[AgentStreamEvent]:
        """The agent's own words as the whole reply (a question, a cancellation): deltas, then the result."""
        return [*self.own_text(text), self.result(text, pending)]

    def answer(self, content: str, *, streamed: bool) -> list[AgentStreamEvent]:
        """The reply to what the user asked, reminding them of a question left open. ``streamed``:
        the model's deltas of ``content`` went out already, only the reminder is left to stream."""
        tail = self.left_open(content)
        return [*self.own_text(tail if streamed else content + tail), self.result(content + tail, self.kept)]


class AssistantRuntime:
    """Runs tasks for one profile against the LLM layer (the kit's client) and the task's tool services."""

    def __init__(self, profile: Profile, catalog: ToolCatalog | None = None) -> None:
        self.profile = profile
        self.catalog = catalog

    def build_messages(self, task: AgentTask) -> list[JsonObject]:
        return [system_message(self.profile, task.memories), *task.messages]

    def completion_request(
        self, messages: list[JsonObject], tools: list[JsonObject] | None = None
    ) -> CompletionRequest:
        return CompletionRequest(
            model=self.profile.model,
            messages=messages,
            tools=tools or None,
            temperature=self.profile.temperature,
            max_tokens=self.profile.max_tokens,
        )

    def llm_headers(self, task: AgentTask) -> dict[str, str]:
        """Who is asking, for the LLM layer's usage ledger and its per-thread model-version stickiness."""
        return {"x-meshline-agent": self.profile.name, "x-meshline-thread": task.thread_id}

    async def events(self, task: AgentTask, ctx: AgentContext) -> AsyncGenerator[AgentStreamEvent, None]:
        """Deltas (when ``ctx.stream``), a ``tool`` event per call, and finally one result event.

        First the user's reply to a question the last turn left pending, then model turns while
        the model asks for tools, at most ``profile.max_steps`` of them.
        """
        tools = await self.catalog.tools(task.tools, self.profile.tools) if self.catalog and task.tools else {}
        state = TurnState(ctx=ctx, agent=self.profile.name, tools=tools, messages=self.build_messages(task))
        if task.pending is not None:
            for event in await self._settle_pending(state, task.pending):
                yield event
        offered = [t.openai_tool() for t in tools.values()]
        for _ in range(self.profile.max_steps):
            if state.done:
                break
            async with aclosing(self._step(state, offered)) as step:
                async for event in step:
                    yield event
        if not state.done:  # every step asked for tools
            for event in state.answer(self.out_of_steps(), streamed=False):
                yield event

    def out_of_steps(self) -> str:
        """The answer of a turn whose model kept asking for tools until ``profile.max_steps``."""
        return (
            f"I could not finish this within {self.profile.max_steps} steps. "
            "Please try again with a more specific request."
        )

    async def _settle_pending(self, state: TurnState, pending: PendingCall) -> list[AgentStreamEvent]:
        """The user's reply to the pending call: yes runs exactly that call, a new request leaves the
        question open, no cancels it and an unclear reply asks again (these two end the turn)."""
        reply = classify(last_user_text(state.ctx.task.messages))
        if reply is Reply.YES:
            key = idempotency_key(state.ctx.task.thread_id, pending.id)
            tool = state.tools.get(pending.tool)
            return [state.ran(await self._execute(tool, pending.tool, pending.id, pending.arguments, key))]
        if reply is Reply.UNRELATED:
            state.kept = pending
            return []
        no = reply is Reply.NO  # nothing runs without a clear yes
        event = state.record(ToolCallRecord(
            id=pending.id, tool=pending.tool, service=pending.service, arguments=pending.arguments,
            status="error" if no else "pending_confirmation", error="cancelled by the user" if no else None,
        ))  # fmt: skip
        return [event, *state.reply(CANCELLED if no else reask(pending), None if no else pending)]

    async def _step(self, state: TurnState, offered: list[JsonObject]) -> AsyncGenerator[AgentStreamEvent, None]:
        """One LLM call: its deltas stream; an answer without tool calls ends the turn, else the calls run."""
        turn: LLMTurn | None = None
        request = self.completion_request(state.messages, offered)
        async with aclosing(state.ctx.llm_turn(request, self.llm_headers(state.ctx.task))) as items:
            async for item in items:
                if isinstance(item, LLMTurn):
                    turn = item
                else:
                    yield item
        if turn is None:  # the kit's turn always ends with a turn; this guards future edits
            raise UpstreamError("the LLM step produced no answer", code="bad_llm_response")
        state.usage += turn.usage
        if not turn.tool_calls:  # the model's text has streamed already
            for event in state.answer(turn.content, streamed=True):
                yield event
            return
        for call in turn.tool_calls:
            for event in await self._call(state, call):
                yield event
            if state.done:
                return

    async def _call(self, state: TurnState, call: LLMToolCall) -> list[AgentStreamEvent]:
        """One tool call the model asked for: run, or (side effects) asked about, which ends the turn."""
        name, call_id = call.function.name, new_call_id()
        try:
            arguments = parse_arguments(call.function.arguments)
        except ValueError as exc:
            return [state.ran(ToolCallRecord(id=call_id, tool=name, status="error", error=f"bad arguments: {exc}"))]
        tool = state.tools.get(name)
        if tool is not None and tool.spec.side_effects:
            pending = PendingCall(id=call_id, service=tool.service, tool=name, arguments=arguments)
            event = state.record(
                ToolCallRecord(
                    id=call_id, tool=name, service=tool.service, arguments=arguments, status="pending_confirmation"
                )
            )
            return [event, *state.reply(question(pending), pending)]
        return [state.ran(await self._execute(tool, name, call_id, arguments, None))]

    async def _execute(
        self, tool: BoundTool | None, name: str, call_id: str, arguments: JsonObject, key: str | None
    ) -> ToolCallRecord:
        record = ToolCallRecord(id=call_id, tool=name, service=tool.service if tool else None, arguments=arguments)
        if tool is None or self.catalog is None:
            return record.model_copy(update={"status": "error", "error": f"there is no tool named {name!r}"})
        try:
            result = await self.catalog.call(tool, arguments, key=key)
        except MeshlineError as exc:  # the model sees the failure and can explain or try otherwise
            return record.model_copy(update={"status": "error", "error": f"{exc.code}: {exc.detail}"})
        return record.model_copy(update={"result": result})
