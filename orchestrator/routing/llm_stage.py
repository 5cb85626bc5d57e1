"""The router's second stage: ask the LLM layer to choose among the registered agents.

Only messages the examples could not place confidently get here. The answer must be a JSON
object naming a registered agent (or ``"none"``); anything else — malformed JSON, an unknown
name, an error, a timeout — raises :class:`RouteLlmError` so the router falls back safely.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from meshline.contracts import Manifest
from meshline.errors import MeshlineError, UpstreamError
from meshline.resilience import ServiceClient, raise_for_problem

NONE = "none"


class RouteLlmError(UpstreamError):
    """The LLM's choice is unusable; ``reason`` says why (logged, and returned by the admin API)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def routing_prompt(agents: Sequence[Manifest]) -> str:
    lines = "\n".join(f"- {a.name}: {a.description or 'no description'}" for a in agents)
    return (
        "You route a customer's message to the one agent that should answer it.\n"
        f"Agents:\n{lines}\n"
        f'Answer with JSON only, like {{"agent": "<name>"}}. Use "{NONE}" when no agent fits.'
    )


def parse_choice(content: str, names: set[str]) -> str | None:
    """The chosen agent, ``None`` for "no agent fits"; raises :class:`RouteLlmError` otherwise."""
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end <= start:
        raise RouteLlmError("the answer is not a JSON object")
    try:
        payload = json.loads(content[start : end + 1])
    except json.JSONDecodeError as exc:
        raise RouteLlmError(f"the answer is not valid JSON: {exc.msg}") from exc
    agent = payload.get("agent") if isinstance(payload, dict) else None
    if not isinstance(agent, str):
        raise RouteLlmError('the answer has no string "agent"')
    agent = agent.strip().lower()
    if agent == NONE:
        return None
    if agent not in names:
        raise RouteLlmError(f"the answer names an unknown agent {agent!r}")
    return agent


class LlmChooser:
    """One short, non-retried call to the LLM layer's ``/v1/chat/completions``."""

    def __init__(self, client: ServiceClient, llm_url: str, model: str, timeout_s: float) -> None:
        self.client = client
        self.url = f"{llm_url.rstrip('/')}/v1/chat/completions"
        self.model = model
        self.timeout_s = timeout_s

    async def choose(self, message: str, agents: Sequence[Manifest], token: str) -> str | None:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": routing_prompt(agents)},
                {"role": "user", "content": message[:4000]},
            ],
            "temperature": 0,
            "max_tokens": 40,
            "response_format": {"type": "json_object"},
        }
        try:
            # Not retried: a slow classifier is worse than the general agent, and the turn is waiting.
            response = await self.client.request(
                "POST", self.url, json=body, token=token, timeout_s=self.timeout_s, idempotent=False
            )
            raise_for_problem(response)
            content = response.json()["choices"][0]["message"]["content"] or ""
        except MeshlineError as exc:
            raise RouteLlmError(f"the LLM layer failed: {exc.detail}") from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RouteLlmError(f"the LLM layer's answer is malformed: {exc}") from exc
        return parse_choice(str(content), {a.name for a in agents})
