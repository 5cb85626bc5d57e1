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
from typing import Any

from meshline.agents.assistant.confirmation import (
    last_user_text,
    new_call_id,
    question,
    reask,
    reminder,
)
from meshline.agents.assistant.profile import Profile
from meshline.agents.assistant.tool_catalog import BoundTool, ToolCatalog, idempotency_key, parse_arguments
from meshline.agents.kit import AgentContext, AgentStreamEvent, CompletionRequest, LLMTurn
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

MEMORIES_HEADER = "What you know about this user:"
MAX_MEMORIES = 20
MAX_MEMORY_CHARS = 500
MAX_TOOL_RESULT_CHARS = 6000  # what one tool result may take of the model's context
CANCELLED = "Okay, I have not done that; nothing was changed."


def system_message(profile: Profile, memories: list[str]) -> dict[str, Any]:
    """The profile's system prompt, plus a short block of recalled memories when there are any."""
    content = profile.system_prompt.strip()
    lines = [f"- {' '.join(m.split())[:MAX_MEMORY_CHARS]}" for m in memories[:MAX_MEMORIES] if m.strip()]
    if lines:
        content += "\n\n" + MEMORIES_HEADER + "\n" + "\n".join(lines)
    return {"role": "system", "content": content}


def tool_messages(call_id: str, name: str, arguments: dict[str, Any], record: ToolCallRecord) -> list[dict[str, Any]]:
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


class AssistantRuntime:
    """Runs tasks for one profile against the LLM layer (the kit's client) and the task's tool services."""

    def __init__(self, profile: Profile, catalog: ToolCatalog | None = None) -> None:
        self.profile = profile
        self.catalog = catalog

    def build_messages(self, task: AgentTask) -> list[dict[str, Any]]:
        return [system_message(self.profile, task.memories), *task.messages]

    def completion_request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
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

    async def _execute(
        self, tool: BoundTool | None, name: str, call_id: str, arguments: dict[str, Any], key: str | None
    ) -> ToolCallRecord:
        record = ToolCallRecord(id=call_id, tool=name, service=tool.service if tool else None, arguments=arguments)
        if tool is None or self.catalog is None:
            return record.model_copy(update={"status": "error", "error": f"there is no tool named {name!r}"})
        try:
            result = await self.catalog.call(tool, arguments, key=key)
        except MeshlineError as exc:  # the model sees the failure and can explain or try otherwise
            return record.model_copy(update={"status": "error", "error": f"{exc.code}: {exc.detail}"})
        return record.model_copy(update={"result": result})

    async def events(self, task: AgentTask, ctx: AgentContext) -> AsyncGenerator[AgentStreamEvent, None]:
        """Deltas (when ``ctx.stream``), a ``tool`` event per call, and finally one result event."""
        stream = ctx.stream
        messages = self.build_messages(task)
        usage = Usage()
        records: list[ToolCallRecord] = []
        tools = await self.catalog.tools(task.tools, self.profile.tools) if self.catalog and task.tools else {}

        def result(content: str, pending: PendingCall | None = None) -> AgentResultEvent:
            return AgentResultEvent(
                result=AgentResult(
                    task_id=task.task_id, agent=self.profile.name, content=content, usage=usage,
                    tool_calls=records, pending=pending,
                )
            )  # fmt: skip

        def own_text(text: str) -> list[AgentDelta]:
            """Text the agent writes itself, streamed like the model's: the deltas add up to the reply."""
            return [AgentDelta(text=text)] if stream and text else []

        kept: PendingCall | None = None  # an open question this turn leaves open (the user asked something else)
        if (pending := task.pending) is not None:
            reply = classify(last_user_text(task.messages))
            if reply is Reply.YES:
                key = idempotency_key(task.thread_id, pending.id)
                record = await self._execute(tools.get(pending.tool), pending.tool, pending.id, pending.arguments, key)
                records.append(record)
                yield AgentToolEvent(call=record)
                messages += tool_messages(pending.id, pending.tool, pending.arguments, record)
            elif reply is Reply.UNRELATED:  # a new request: answered as usual, the question stays open
                kept = pending
            else:  # no: cancelled; unclear: asked again, nothing runs without a clear yes
                no = reply is Reply.NO
                records.append(ToolCallRecord(
                    id=pending.id, tool=pending.tool, service=pending.service, arguments=pending.arguments,
                    status="error" if no else "pending_confirmation", error="cancelled by the user" if no else None,
                ))  # fmt: skip
                yield AgentToolEvent(call=records[-1])
                text = CANCELLED if no else reask(pending)
                for delta in own_text(text):
                    yield delta
                yield result(text, None if no else pending)
                return

        def left_open(content: str) -> str:
            """What follows ``content``: a reminder of the question this turn left open, if any, so
            the user always sees what a yes would run."""
            if kept is None:
                return ""
            return f"\n\n{reminder(kept)}" if content.strip() else reminder(kept)

        def answered(content: str) -> AgentResultEvent:
            return result(content + left_open(content), kept)

        offered = [t.openai_tool() for t in tools.values()]
        for _ in range(self.profile.max_steps):
            turn: LLMTurn | None = None
            request = self.completion_request(messages, offered)
            async with aclosing(ctx.llm_turn(request, self.llm_headers(task))) as step:
                async for item in step:
                    if isinstance(item, LLMTurn):
                        turn = item
                    else:
                        yield item
            if turn is None:  # _step always ends with a turn; this guards future edits
                raise UpstreamError("the LLM step produced no answer", code="bad_llm_response")
            usage += turn.usage
            if not turn.tool_calls:
                for delta in own_text(left_open(turn.content)):  # the model's text has streamed already
                    yield delta
                yield answered(turn.content)
                return
            for call in turn.tool_calls:
                name, call_id = call.function.name, new_call_id()
                try:
                    arguments = parse_arguments(call.function.arguments)
                except ValueError as exc:
                    record = ToolCallRecord(id=call_id, tool=name, status="error", error=f"bad arguments: {exc}")
                else:
                    tool = tools.get(name)
                    if tool is not None and tool.spec.side_effects:
                        pending = PendingCall(id=call_id, service=tool.service, tool=name, arguments=arguments)
                        records.append(ToolCallRecord(id=call_id, tool=name, service=tool.service,
                                                      arguments=arguments, status="pending_confirmation"))  # fmt: skip
                        yield AgentToolEvent(call=records[-1])
                        for delta in own_text(question(pending)):
                            yield delta
                        yield result(question(pending), pending)
                        return
                    record = await self._execute(tool, name, call_id, arguments, None)
                records.append(record)
                yield AgentToolEvent(call=record)
                messages += tool_messages(call_id, name, record.arguments, record)
        text = (
            f"I could not finish this within {self.profile.max_steps} steps. "
            "Please try again with a more specific request."
        )
        for delta in own_text(text + left_open(text)):
            yield delta
        yield answered(text)
