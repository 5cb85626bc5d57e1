"""The assistant runtime: one agent turn, from an AgentTask to an AgentResult, as a stream of events.

A task becomes LLM messages (profile system prompt, what the mesh remembers about the user,
the conversation); each *step* is one LLM call. Today a task is a single step; the tool loop
will repeat :meth:`AssistantRuntime._step` up to ``profile.max_steps`` times while the model
asks for tools, yielding tool events between steps. Both the JSON and the SSE answer come from
:meth:`AssistantRuntime.events`, so the loop will be written once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from meshline.agents.assistant.llm_client import LLMLayer, LLMTurn, TurnAccumulator
from meshline.agents.assistant.profile import Profile
from meshline.contracts import AgentResult, AgentTask, Usage
from meshline.contracts.agent import AgentDelta, AgentResultEvent
from meshline.errors import UpstreamError

MEMORIES_HEADER = "What you know about this user:"
MAX_MEMORIES = 20
MAX_MEMORY_CHARS = 500

RuntimeEvent = AgentDelta | AgentResultEvent


def system_message(profile: Profile, memories: list[str]) -> dict[str, Any]:
    """The profile's system prompt, plus a short block of recalled memories when there are any."""
    content = profile.system_prompt.strip()
    lines = [f"- {' '.join(m.split())[:MAX_MEMORY_CHARS]}" for m in memories[:MAX_MEMORIES] if m.strip()]
    if lines:
        content += "\n\n" + MEMORIES_HEADER + "\n" + "\n".join(lines)
    return {"role": "system", "content": content}


class AssistantRuntime:
    """Runs tasks for one profile against the LLM layer."""

    def __init__(self, profile: Profile, llm: LLMLayer) -> None:
        self.profile = profile
        self.llm = llm

    def build_messages(self, task: AgentTask) -> list[dict[str, Any]]:
        return [system_message(self.profile, task.memories), *task.messages]

    def completion_request(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.profile.model, "messages": messages}
        if self.profile.temperature is not None:
            request["temperature"] = self.profile.temperature
        if self.profile.max_tokens is not None:
            request["max_tokens"] = self.profile.max_tokens
        return request

    async def _step(
        self, messages: list[dict[str, Any]], *, stream: bool
    ) -> AsyncGenerator[AgentDelta | LLMTurn, None]:
        """One LLM call: text deltas as they arrive (when streaming), then the whole turn."""
        request = self.completion_request(messages)
        if not stream:
            yield await self.llm.complete(request)
            return
        acc = TurnAccumulator()
        async with aclosing(self.llm.stream(request)) as chunks:
            async for chunk in chunks:
                text = acc.add(chunk)
                if text:
                    yield AgentDelta(text=text)
        yield acc.turn()

    async def events(self, task: AgentTask, *, stream: bool) -> AsyncGenerator[RuntimeEvent, None]:
        """Deltas (when ``stream``) and finally one result event."""
        messages = self.build_messages(task)
        usage = Usage()
        turn: LLMTurn | None = None
        async with aclosing(self._step(messages, stream=stream)) as step:
            async for item in step:
                if isinstance(item, LLMTurn):
                    turn = item
                else:
                    yield item
        if turn is None:  # _step always ends with a turn; this guards future edits
            raise UpstreamError("the LLM step produced no answer", code="bad_llm_response")
        usage += turn.usage
        result = AgentResult(task_id=task.task_id, agent=self.profile.name, content=turn.content, usage=usage)
        yield AgentResultEvent(result=result)

    async def run(self, task: AgentTask) -> AgentResult:
        """The whole answer at once (no streaming from the LLM layer)."""
        async with aclosing(self.events(task, stream=False)) as events:
            async for event in events:
                if isinstance(event, AgentResultEvent):
                    return event.result
        raise UpstreamError("the agent produced no result", code="bad_llm_response")
