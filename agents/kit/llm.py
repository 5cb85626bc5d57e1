"""The kit's client of the LLM layer (``POST {llm_url}/v1/chat/completions``, the OpenAI wire format).

Calls go through the agent's :class:`CallPipeline` (the breaker named ``llm``, then the
resilient :class:`ServiceClient`) with the task's LLM token (minted for the ``llm`` audience
alone; see ``AgentTask.tokens``), the trace and the deadline. Request bodies and chunks are the
OpenAI JSON that goes to and comes from the wire; what the agent keeps of an answer is typed
(:class:`LLMTurn`, :class:`LLMToolCall`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel, Field

from meshline.agents.kit.openai_json import ChunkJson, ToolCallJson
from meshline.contracts import AgentDelta, Usage
from meshline.errors import MeshlineError, UpstreamError
from meshline.json_types import JsonObject
from meshline.resilience import CallPipeline, raise_for_problem
from meshline.sse import aiter_sse

LLM_TARGET = "llm"  # the breaker's name for the LLM layer


def parse_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()

    def count(key: str) -> int:
        value = raw.get(key)
        return int(value) if isinstance(value, int | float) else 0

    return Usage(
        prompt_tokens=count("prompt_tokens"),
        completion_tokens=count("completion_tokens"),
        total_tokens=count("total_tokens"),
    )


class CompletionRequest(BaseModel):
    """What an agent asks the LLM layer for: the body of ``POST /v1/chat/completions``.

    ``messages`` and ``tools`` are OpenAI JSON that goes to the wire as it is; unset options are
    left out of the body (the LLM layer's defaults apply).
    """

    model: str
    messages: list[JsonObject]
    tools: list[JsonObject] | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def body(self, **options: object) -> dict[str, object]:
        return {**self.model_dump(exclude_none=True), **options}


class LLMFunctionCall(BaseModel):
    """The function a model asked for: its name and its arguments as the JSON text the model wrote."""

    name: str = ""
    arguments: str = ""


class LLMToolCall(BaseModel):
    """One tool call of an assistant message (OpenAI's ``tool_calls[i]``)."""

    id: str = ""
    type: str = "function"
    function: LLMFunctionCall = Field(default_factory=LLMFunctionCall)


def _tool_call(raw: ToolCallJson) -> LLMToolCall:
    function = raw.get("function")
    if not isinstance(function, dict):
        function = {}
    arguments = function.get("arguments")
    return LLMToolCall(
        id=str(raw.get("id") or ""),
        function=LLMFunctionCall(
            name=str(function.get("name") or ""),
            arguments=arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
        ),
    )


@dataclass
class LLMTurn:
    """One assistant turn from the model: its text, why it stopped, and what it cost."""

    content: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[LLMToolCall] = field(default_factory=list)


def parse_completion(body: Any) -> LLMTurn:
    """An OpenAI ``chat.completion`` body as an :class:`LLMTurn`."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstreamError("the LLM layer answered without a choice", code="bad_llm_response") from exc
    return LLMTurn(
        content=str(message.get("content") or ""),
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(body.get("usage")),
        tool_calls=[_tool_call(cast(ToolCallJson, c)) for c in message.get("tool_calls") or [] if isinstance(c, dict)],
    )


class TurnAccumulator:
    """Folds ``chat.completion.chunk`` objects into one :class:`LLMTurn`."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self._calls: dict[int, LLMToolCall] = {}  # streamed tool calls arrive in pieces, by index

    def add(self, chunk: ChunkJson) -> str:
        """Take one chunk in; return the text it adds (may be empty)."""
        if chunk.get("usage"):
            self.usage = parse_usage(chunk["usage"])
        text = ""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text += str(delta.get("content") or "")
            for piece in delta.get("tool_calls") or []:
                self._add_call_piece(piece)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if text:
            self._parts.append(text)
        return text

    def _add_call_piece(self, piece: ToolCallJson) -> None:
        call = self._calls.setdefault(int(piece.get("index", len(self._calls))), LLMToolCall())
        if piece.get("id"):
            call.id = str(piece["id"])
        function = piece.get("function") or {}
        call.function.name += str(function.get("name") or "")
        call.function.arguments += str(function.get("arguments") or "")

    def turn(self) -> LLMTurn:
        return LLMTurn(
            content="".join(self._parts),
            finish_reason=self.finish_reason,
            usage=self.usage,
            tool_calls=[self._calls[i] for i in sorted(self._calls)],
        )


def _stream_error(event: str, payload: Any) -> MeshlineError:
    """An error the LLM layer reported inside a stream (problem JSON, or OpenAI's ``{"error": ...}``)."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        payload = payload["error"]
    if not isinstance(payload, dict):
        return UpstreamError(f"the LLM layer sent a malformed {event!r} event", code="bad_llm_response")
    detail = payload.get("detail") or payload.get("message") or payload.get("title") or "LLM stream failed"
    return UpstreamError(
        str(detail),
        code=str(payload.get("code") or "llm_stream_error"),
        retryable=bool(payload.get("retryable", True)),
    )


class LLMLayer:
    """The LLM layer as an agent sees it: one completion, a stream of chunks, one turn either way, health."""

    def __init__(self, pipeline: CallPipeline, base_url: str, *, timeout_s: float, health_timeout_s: float) -> None:
        self._pipeline = pipeline  # its breaker: an LLM layer that keeps failing is not called for a while
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s  # one completion
        self._health_timeout_s = health_timeout_s  # one readiness probe

    @property
    def completions_url(self) -> str:
        return f"{self._base_url}/v1/chat/completions"

    async def complete(
        self, request: CompletionRequest, headers: dict[str, str] | None = None, *, token: str | None
    ) -> LLMTurn:
        body = request.body(stream=False)
        response = await self._pipeline.request(
            LLM_TARGET,
            "POST",
            self.completions_url,
            json=body,
            headers=headers,
            token=token,
            timeout_s=self._timeout_s,
        )
        try:
            payload = response.json()
        except ValueError as exc:
            raise UpstreamError("the LLM layer answered with invalid JSON", code="bad_llm_response") from exc
        return parse_completion(payload)

    async def stream(
        self, request: CompletionRequest, headers: dict[str, str] | None = None, *, token: str | None
    ) -> AsyncGenerator[ChunkJson, None]:
        """Yield each ``chat.completion.chunk`` (OpenAI JSON) as it arrives; errors raise MeshlineError."""
        body = request.body(stream=True, stream_options={"include_usage": True})
        async with self._pipeline.stream(
            LLM_TARGET, "POST", self.completions_url, json=body, headers=headers, token=token, timeout_s=self._timeout_s
        ) as response:
            async for message in aiter_sse(response):
                if message.data.strip() == "[DONE]":
                    return
                try:
                    payload = json.loads(message.data)
                except ValueError as exc:
                    raise UpstreamError("the LLM layer streamed bad JSON", code="bad_llm_response") from exc
                if message.event == "error" or (isinstance(payload, dict) and "error" in payload):
                    raise _stream_error(message.event, payload)
                if isinstance(payload, dict):
                    yield cast(ChunkJson, payload)

    async def turn(
        self, request: CompletionRequest, headers: dict[str, str] | None = None, *, token: str | None, stream: bool
    ) -> AsyncGenerator[AgentDelta | LLMTurn, None]:
        """One LLM call: its text deltas as they arrive (when ``stream``), then the whole turn."""
        if not stream:
            yield await self.complete(request, headers, token=token)
            return
        acc = TurnAccumulator()
        async with aclosing(self.stream(request, headers, token=token)) as chunks:
            async for chunk in chunks:
                text = acc.add(chunk)
                if text:
                    yield AgentDelta(text=text)
        yield acc.turn()

    async def health(self) -> None:
        """Raises unless the LLM layer's ``/healthz`` answers 200."""
        url = f"{self._base_url}/healthz"
        response = await self._pipeline.client.request("GET", url, timeout_s=self._health_timeout_s)
        raise_for_problem(response)
