"""What a chat stream has shown, per agent, and the events that make it the text the thread stores.

The contract (DESIGN, Resilience): a ``delta`` appends to its agent's text; a ``reset`` discards
its agent's text so far. A dispatch that ends with text other than what it streamed (a failed
attempt's partial text, a replica that died mid-answer, a degraded reply nobody saw) is
reconciled before the turn is composed: resets for what no longer counts, then the missing text
as a delta. So the deltas, joined with resets applied, are what the thread stores.
"""

from __future__ import annotations

from typing import Any, Literal

ResetReason = Literal["failed", "replaced"]


def delta_payload(agent: str, text: str) -> dict[str, Any]:
    return {"type": "delta", "agent": agent, "text": text}


def reset_payload(agent: str, reason: ResetReason) -> dict[str, Any]:
    return {"type": "reset", "agent": agent, "reason": reason}


class ShownText:
    """Each agent's text as a client applying deltas and resets would show it."""

    def __init__(self) -> None:
        self.by_agent: dict[str, str] = {}

    def apply(self, payload: dict[str, Any]) -> None:
        agent = str(payload.get("agent") or "")
        if payload["type"] == "delta":
            self.by_agent[agent] = self.by_agent.get(agent, "") + str(payload["text"])
        elif payload["type"] == "reset":
            self.by_agent.pop(agent, None)

    def text(self, agent: str) -> str:
        return self.by_agent.get(agent, "")

    def joined(self) -> str:
        """The shown text as compose would join it: each agent's text a paragraph."""
        return "\n\n".join(t.strip() for t in self.by_agent.values() if t.strip())

    def reconcile(self, agent: str, content: str, *, failed: bool) -> list[dict[str, Any]]:
        """The payloads that turn what was shown into ``content`` from ``agent`` (applied here too);
        ``failed``: the dispatch failed, and ``content`` is a fallback's or the degraded reply."""
        payloads = [reset_payload(other, "failed") for other, text in self.by_agent.items() if other != agent and text]
        shown = self.text(agent)
        if content.startswith(shown):
            rest = content[len(shown) :]
        else:
            payloads.append(reset_payload(agent, "failed" if failed else "replaced"))
            rest = content
        if rest:
            payloads.append(delta_payload(agent, rest))
        for payload in payloads:
            self.apply(payload)
        return payloads
