"""The parts of OpenAI's chat-completion JSON that the kit reads, as ``TypedDict`` shapes.

They type the reads of JSON as it came off the wire: nothing validates it, so the reader still
checks what it relies on (an ``isinstance`` before a nested object is used) and a malformed
piece is skipped or taken as empty, as before. JSON the kit passes through unread (messages,
tool schemas) stays a :data:`meshline.json_types.JsonObject`.
"""

from __future__ import annotations

from typing import TypedDict

from meshline.json_types import JsonObject


class UsageJson(TypedDict, total=False):
    """``usage``: what a call cost, in tokens."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class FunctionJson(TypedDict, total=False):
    """``tool_calls[i].function``; ``arguments`` is the model's JSON text (a piece of it, when streamed)."""

    name: str
    arguments: str | JsonObject


class ToolCallJson(TypedDict, total=False):
    """``tool_calls[i]`` of a message, or a piece of one in a chunk's delta (then ``index`` says which)."""

    index: int
    id: str
    type: str
    function: FunctionJson


class DeltaJson(TypedDict, total=False):
    """``choices[i].delta`` of a chunk: what it adds to the message."""

    content: str | None
    tool_calls: list[ToolCallJson]


class ChunkChoiceJson(TypedDict, total=False):
    """``choices[i]`` of a ``chat.completion.chunk``."""

    index: int
    delta: DeltaJson
    finish_reason: str | None


class ChunkJson(TypedDict, total=False):
    """One ``chat.completion.chunk`` of a stream; the last one carries ``usage``."""

    choices: list[ChunkChoiceJson]
    usage: UsageJson | None
