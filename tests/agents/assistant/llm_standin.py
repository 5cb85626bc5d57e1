"""The respx stand-in for the LLM layer: its URL, and what reached it (replies: meshline.testing.scripted_model)."""

from __future__ import annotations

import json
from typing import Any

import respx

LLM_URL = "http://llm.test:8100"
COMPLETIONS = "/v1/chat/completions"


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
