"""What a chat stream has shown, per agent, and the events that make it the text the thread stores.

The contract (DESIGN, Resilience): a ``delta`` appends to its agent's text; a ``reset`` discards
its agent's text so far. A dispatch that ends with text other than what it streamed (a failed
attempt's partial text, a replica that died mid-answer, a degraded reply nobody saw) is
reconciled before the turn is composed: resets for what no longer counts, then the missing text
as a delta. So the deltas, joined with resets applied, are what the thread stores.
"""

from __future__ import annotations

from collections.abc import Callable

from meshline.contracts import DeltaEvent, ResetEvent, RouteDecision, ToolCallRecord, ToolEvent

ShownEvent = DeltaEvent | ResetEvent
# What the graph writes to LangGraph's custom stream; the turn runner turns a RouteDecision into
# the RouteEvent (it alone knows the caller's thread id) and relays the rest as they are.
GraphEvent = RouteDecision | DeltaEvent | ResetEvent | ToolEvent


class ShownText:
    """Each agent's text as a client applying deltas and resets would show it."""

    def __init__(self) -> None:
        self.by_agent: dict[str, str] = {}

    def apply(self, event: GraphEvent) -> None:
        if isinstance(event, DeltaEvent):
            agent = event.agent or ""
            self.by_agent[agent] = self.by_agent.get(agent, "") + event.text
        elif isinstance(event, ResetEvent):
            self.by_agent.pop(event.agent, None)

    def text(self, agent: str) -> str:
        return self.by_agent.get(agent, "")

    def joined(self) -> str:
        """The shown text as compose would join it: each agent's text a paragraph."""
        return "\n\n".join(t.strip() for t in self.by_agent.values() if t.strip())

    def reconcile(self, agent: str, content: str, *, failed: bool) -> list[ShownEvent]:
        """The events that turn what was shown into ``content`` from ``agent`` (applied here too);
        ``failed``: the dispatch failed, and ``content`` is a fallback's or the degraded reply."""
        events: list[ShownEvent] = [
            ResetEvent(agent=other, reason="failed") for other, text in self.by_agent.items() if other != agent and text
        ]
        shown = self.text(agent)
        if content.startswith(shown):
            rest = content[len(shown) :]
        else:
            events.append(ResetEvent(agent=agent, reason="failed" if failed else "replaced"))
            rest = content
        if rest:
            events.append(DeltaEvent(agent=agent, text=rest))
        for event in events:
            self.apply(event)
        return events


class DispatchRelay:
    """One dispatch's stream: relays the agent's deltas and tool calls to the turn's stream as
    they arrive, and at the end puts what was shown right (see :meth:`ShownText.reconcile`)."""

    def __init__(self, agent: str, write: Callable[[GraphEvent], None]) -> None:
        self.agent = agent
        self.write = write
        self.shown = ShownText()

    def _show(self, event: ShownEvent) -> None:
        self.shown.apply(event)
        self.write(event)

    def on_delta(self, source: str, text: str) -> None:
        if source != self.agent and self.shown.text(self.agent):  # a fallback answers: the target's text is void
            self._show(ResetEvent(agent=self.agent, reason="failed"))
        self._show(DeltaEvent(agent=source, text=text))

    def on_tool(self, agent: str, call: ToolCallRecord) -> None:
        self.write(ToolEvent(agent=agent, call=call))

    def settle(self, agent: str, content: str, *, failed: bool) -> None:
        """What was streamed ends as ``content`` from ``agent``, the text compose stores."""
        for event in self.shown.reconcile(agent, content, failed=failed):
            self.write(event)
