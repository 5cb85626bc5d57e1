"""First router: pinned agent, else word overlap with each agent's routing examples, else the default.

Deliberately simple and dependency-free; the semantic router (embeddings + LLM fallback)
replaces ``score_agents`` without changing ``Router.route``'s contract.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from meshline.contracts.chat import RouteDecision
from meshline.contracts.manifest import Manifest
from meshline.errors import NotFound, ServiceUnavailable

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the i me my you your is are am to of for and or on in it this that be do can with please".split()
)


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def score_agents(message: str, agents: Sequence[Manifest]) -> dict[str, float]:
    """Best Jaccard overlap between the message and any example (or the description) of each agent."""
    query = words(message)
    scores: dict[str, float] = {}
    for agent in agents:
        best = 0.0
        for example in [*agent.examples, agent.description]:
            ex = words(example)
            if query and ex:
                best = max(best, len(query & ex) / len(query | ex))
        scores[agent.name] = best
    return scores


class Router:
    def __init__(self, default_agent: str, threshold: float) -> None:
        self.default_agent = default_agent
        self.threshold = threshold

    def route(self, message: str, agents: Sequence[Manifest], pinned: str | None = None) -> RouteDecision:
        names = {a.name for a in agents}
        if pinned is not None:
            if pinned not in names:
                raise NotFound(f"no agent named {pinned!r} is registered", code="unknown_agent")
            return RouteDecision(agents=[pinned], method="pinned", confidence=1.0)
        if not agents:
            raise ServiceUnavailable("no agent is registered", code="no_agents")
        scores = score_agents(message, agents)
        best = max(scores, key=lambda n: scores[n])
        if scores[best] >= self.threshold:
            return RouteDecision(agents=[best], method="examples", confidence=round(min(1.0, scores[best]), 3))
        fallback = self.default_agent if self.default_agent in names else sorted(names)[0]
        return RouteDecision(agents=[fallback], method="fallback", confidence=round(1.0 - scores[best], 3))
