"""What a client shows of a chat stream (shared by the stream tests; a module: conftest is not importable)."""

from __future__ import annotations

from meshline.contracts.chat import DeltaEvent, ResetEvent, StreamEvent


def shown_text(events: list[StreamEvent]) -> str:
    """Deltas appended per agent, a reset discarding that agent's text; each agent's text a paragraph."""
    by_agent: dict[str, str] = {}
    for event in events:
        if isinstance(event, DeltaEvent):
            by_agent[event.agent or ""] = by_agent.get(event.agent or "", "") + event.text
        elif isinstance(event, ResetEvent):
            by_agent.pop(event.agent, None)
    return "\n\n".join(t.strip() for t in by_agent.values() if t.strip())
