"""Helpers that speak the OpenAI wire format, as the LLM layer does, for the respx stand-in."""

from __future__ import annotations

import json
from typing import Any

import respx

LLM_URL = "http://llm.test:8100"
COMPLETIONS = "/v1/chat/completions"


def completion(text: str, prompt_tokens: int = 12, completion_tokens: int = 5) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chunk(text: str | None = None, *, usage: dict[str, int] | None = None, finish: str | None = None) -> bytes:
    """One OpenAI ``chat.completion.chunk`` as an SSE event (usage chunks have no choices)."""
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "default"}
    if usage is not None:
        body["choices"], body["usage"] = [], usage
    else:
        delta = {"content": text} if text is not None else {}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return f"data: {json.dumps(body)}\n\n".encode()


def sse_stream(pieces: list[str], usage: dict[str, int]) -> bytes:
    first = chunk("")  # OpenAI opens with an empty role delta
    body = first + b"".join(chunk(p) for p in pieces) + chunk(finish="stop") + chunk(usage=usage)
    return body + b"data: [DONE]\n\n"


def sent_json(route: respx.Route, index: int = -1) -> dict[str, Any]:
    """The JSON body of a request that reached the LLM stand-in."""
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


LLM_TOKEN = "the-task-llm-token"  # the LLM layer is stood in for: it does not verify what it gets


def task_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_id": "task-1",
        "thread_id": "thread-1",
        "messages": [{"role": "user", "content": "hello!"}],
        "tokens": {"llm": LLM_TOKEN},
    }
    body.update(overrides)
    return body
