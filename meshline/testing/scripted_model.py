"""One scripted model for every test that fakes an OpenAI-compatible provider.

After pydantic-ai's ``TestModel``/``FunctionModel``: a test says what the "model" answers — a
text, tool calls, a provider error, a delay, a stream that breaks half-way — as typed ``Reply``
values, and the same script serves wherever the provider is faked:

- as a respx side effect (``route.mock(side_effect=ScriptedModel(...))``), for code that calls
  a provider (or the LLM layer, which speaks the same wire format) over httpx;
- inside the fake provider process (``meshline.testing.fake_openai``), whose echo and scripted
  tool calls are ``Reply`` values rendered by the same functions.

The OpenAI wire format is written once, here (``completion_json``, ``chunk_events``,
``error_json``); the dicts it returns are the JSON boundary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import httpx
from pydantic import BaseModel, ConfigDict, Field

from meshline.json_types import JsonObject


class Usage(BaseModel):
    """Token counts the reply reports (OpenAI ``usage``)."""

    prompt_tokens: int = 12
    completion_tokens: int = 5

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_json(self) -> dict[str, int]:
        return {**self.model_dump(), "total_tokens": self.total_tokens}


class ToolCall(BaseModel):
    """One function call the model makes; ``id`` defaults to ``call-<step>-<index>``, ``""`` sends none."""

    name: str
    arguments: JsonObject = Field(default_factory=dict)  # JSON: the tool's own arguments
    id: str | None = None


class ProviderError(BaseModel):
    """A provider's error answer: status, OpenAI's error body, and headers (e.g. ``retry-after``)."""

    status: int
    message: str
    type: str = "server_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class Reply(BaseModel):
    """What the model answers to one request.

    ``text=None`` sends ``content: null`` (as OpenAI does beside tool calls). ``pieces`` is how
    a stream splits the text (default: word by word, spaces kept); ``break_after`` cuts a stream
    after that many pieces, the connection dropped. ``delay_s`` waits before answering (honoured
    where the fake can wait: the provider process and ``ScriptedModel.respond``).
    """

    text: str | None = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: ProviderError | None = None
    usage: Usage = Field(default_factory=Usage)
    pieces: list[str] | None = None
    break_after: int | None = None
    delay_s: float = 0.0

    def stream_pieces(self) -> list[str]:
        if self.pieces is not None:
            return self.pieces
        words = (self.text or "").split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


class ChatMessage(BaseModel):
    """One message of a chat request, as far as a fake reads it."""

    model_config = ConfigDict(extra="allow")
    role: str = ""
    content: str | list[Any] | None = None


class ChatRequest(BaseModel):
    """A chat-completions request body, as far as a fake reads it."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    messages: list[ChatMessage] = Field(default_factory=list)
    stream: bool = False
    tools: list[JsonObject] | None = None  # JSON: OpenAI tool schemas

    def offered_tools(self) -> list[str]:
        return [str((t.get("function") or {}).get("name", "")) for t in self.tools or [] if isinstance(t, dict)]


class FunctionJson(TypedDict):
    name: str
    arguments: str  # the arguments as a JSON string, as OpenAI sends them


class ToolCallJson(TypedDict):
    index: NotRequired[int]  # streamed calls carry their position
    id: NotRequired[str]
    type: str
    function: FunctionJson


class MessageJson(TypedDict):
    """An assistant message (``chat.completion``) or a delta (``chat.completion.chunk``)."""

    role: NotRequired[str]
    content: NotRequired[str | None]
    tool_calls: NotRequired[list[ToolCallJson]]


class ChoiceJson(TypedDict):
    index: int
    message: NotRequired[MessageJson]
    delta: NotRequired[MessageJson]
    finish_reason: str | None


class CompletionJson(TypedDict):
    """A ``chat.completion`` or one ``chat.completion.chunk`` (a chunk's usage rides with no choices)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChoiceJson]
    usage: NotRequired[dict[str, int]]


class ErrorBodyJson(TypedDict):
    message: str
    type: str
    param: NotRequired[str]
    code: NotRequired[str]


class ErrorJson(TypedDict):
    error: ErrorBodyJson


@dataclass(frozen=True)
class Wire:
    """The envelope fields of every completion and chunk (``id``, ``created``, ``model``)."""

    id: str = "chatcmpl-1"
    created: int = 1
    model: str = "default"


def _openai_calls(reply: Reply, step: int, indexed: bool) -> list[ToolCallJson]:
    calls = []
    for i, call in enumerate(reply.tool_calls):
        wire_call = ToolCallJson(type="function", function={"name": call.name, "arguments": json.dumps(call.arguments)})
        if indexed:
            wire_call["index"] = i
        if call.id != "":  # "" sends no id
            wire_call["id"] = call.id or f"call-{step}-{i}"
        calls.append(wire_call)
    return calls


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def completion_json(reply: Reply, wire: Wire = Wire(), step: int = 1) -> CompletionJson:
    """The reply as an OpenAI ``chat.completion`` body."""
    message = MessageJson(role="assistant", content=reply.text)
    if reply.tool_calls:
        message["tool_calls"] = _openai_calls(reply, step, indexed=False)
    return {
        "id": wire.id,
        "object": "chat.completion",
        "created": wire.created,
        "model": wire.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
        "usage": reply.usage.as_json(),
    }


def chunk_json(wire: Wire, delta: MessageJson | None = None, finish: str | None = None) -> CompletionJson:
    """One ``chat.completion.chunk`` with one choice."""
    choice = ChoiceJson(index=0, delta=delta or {}, finish_reason=finish)
    return {
        "id": wire.id,
        "object": "chat.completion.chunk",
        "created": wire.created,
        "model": wire.model,
        "choices": [choice],
    }


DONE = b"data: [DONE]\n\n"


def sse_event(body: Mapping[str, object]) -> bytes:
    """One SSE ``data:`` event carrying ``body``."""
    return f"data: {json.dumps(body)}\n\n".encode()


def text_event(text: str, wire: Wire = Wire()) -> bytes:
    """One streamed piece of text, for a test that builds a stream by hand (gated, or broken its own way)."""
    return sse_event(chunk_json(wire, {"role": "assistant", "content": text}))


def usage_event(usage: Usage, wire: Wire = Wire()) -> bytes:
    """The closing usage chunk (no choices), as OpenAI sends it with ``include_usage``."""
    chunk = CompletionJson(
        id=wire.id, object="chat.completion.chunk", created=wire.created, model=wire.model, choices=[]
    )
    chunk["usage"] = usage.as_json()
    return sse_event(chunk)


def chunk_events(reply: Reply, wire: Wire = Wire(), step: int = 1) -> Iterator[bytes]:
    """The reply as OpenAI SSE events: a delta per piece, the tool calls, the finish, the usage, ``[DONE]``.

    A reply with ``break_after`` stops after that many pieces; the caller drops the connection.
    """
    pieces = reply.stream_pieces()
    for piece in pieces[: reply.break_after]:
        yield text_event(piece, wire)
    if reply.break_after is not None:
        return
    if reply.tool_calls:
        calls = _openai_calls(reply, step, indexed=True)
        yield sse_event(chunk_json(wire, {"role": "assistant", "tool_calls": calls}))
    yield sse_event(chunk_json(wire, finish=_finish(reply)))
    yield usage_event(reply.usage, wire)
    yield DONE


def error_json(error: ProviderError) -> ErrorJson:
    """OpenAI's error body for ``error``."""
    body = ErrorBodyJson(message=error.message, type=error.type)
    if error.param is not None:
        body["param"] = error.param
    if error.code is not None:
        body["code"] = error.code
    return {"error": body}


# A reply, a text, or (name, arguments) pairs: the model calls those tools.
Scripted = Reply | str | list[tuple[str, JsonObject]]
Script = Callable[[ChatRequest], Scripted]


class ScriptedModel:
    """A respx side effect that answers chat completions from a script, recording each request.

    ``ScriptedModel("hi", [("get_order", {"order_id": 1})])`` answers with the replies in order,
    the last repeating once the script runs out (like ``TestModel``); ``ScriptedModel(function=f)``
    asks ``f(request)`` every time (like ``FunctionModel``). A string is ``Reply(text=...)``, a list
    of (name, arguments) pairs a tool-call reply. ``replies`` may be reassigned between steps; the
    script position is the number of requests recorded (clear ``requests`` to start over). A
    stream is answered when the request asks for one.
    """

    def __init__(self, *replies: Scripted, function: Script | None = None, wire: Wire = Wire()) -> None:
        self._replies = [as_reply(r) for r in replies]
        self.function = function
        self.wire = wire
        self.call_ids = True  # False: tool calls arrive without ids, as some providers send them
        self.requests: list[JsonObject] = []  # JSON: the bodies as sent

    @property
    def replies(self) -> list[Reply]:
        return self._replies

    @replies.setter
    def replies(self, replies: list[Scripted]) -> None:
        self._replies = [as_reply(r) for r in replies]

    @property
    def last(self) -> JsonObject:
        """The body of the last request."""
        return self.requests[-1]

    def next_reply(self, request: ChatRequest) -> Reply:
        if self.function is not None:
            reply = as_reply(self.function(request))
        elif not self.replies:
            raise AssertionError("the scripted model has no reply scripted")
        else:
            reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if not self.call_ids:
            reply = reply.model_copy(update={"tool_calls": [c.model_copy(update={"id": ""}) for c in reply.tool_calls]})
        return reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        return self.render(self.next_reply(ChatRequest.model_validate(body)), stream=bool(body.get("stream")))

    async def respond(self, request: httpx.Request) -> httpx.Response:
        """The async side effect: like calling the model, but honours ``Reply.delay_s``."""
        body = json.loads(request.content)
        self.requests.append(body)
        reply = self.next_reply(ChatRequest.model_validate(body))
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return self.render(reply, stream=bool(body.get("stream")))

    def render(self, reply: Reply, stream: bool) -> httpx.Response:
        """The reply as the httpx response a provider would send."""
        step = len(self.requests)
        if reply.error is not None:
            return httpx.Response(reply.error.status, json=error_json(reply.error), headers=reply.error.headers)
        if not stream:
            return httpx.Response(200, json=completion_json(reply, self.wire, step))
        events = list(chunk_events(reply, self.wire, step))
        headers = {"content-type": "text/event-stream"}
        if reply.break_after is not None:
            return httpx.Response(200, stream=_Broken(events), headers=headers)
        return httpx.Response(200, content=b"".join(events), headers=headers)


class _Broken(httpx.AsyncByteStream):
    """A stream that sends its events, then drops as a reset connection does."""

    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self.events:
            yield event
        raise httpx.ReadError("connection reset by peer")


def as_reply(reply: Scripted) -> Reply:
    """The reply a script entry stands for."""
    if isinstance(reply, Reply):
        return reply
    if isinstance(reply, str):
        return Reply(text=reply)
    return Reply(text=None, tool_calls=[ToolCall(name=name, arguments=args) for name, args in reply])
