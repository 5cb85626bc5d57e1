"""The semantic router: nearest routing examples vote; the LLM decides only when they are unsure.

One call embeds the message (and, when it reads like several requests, each part) in a single
batch. The ``k`` nearest examples vote, weighted by similarity; the winner's share of the vote
is the confidence. At or above the threshold the examples decide (no LLM call). Below it the
LLM layer chooses among the agents' descriptions; an unusable answer falls back to the default
agent. A follow-up stays with the thread's previous agent unless the examples clearly place it
elsewhere and it does not refer back to the conversation ("when will it arrive?"); a message
whose parts confidently belong to different agents is fanned out.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from meshline.contracts import Manifest, RouteDecision
from meshline.errors import NotFound, ServiceUnavailable
from meshline.orchestrator.routing.embedder import RouteEmbedder
from meshline.orchestrator.routing.index import Neighbour, RouteIndex
from meshline.orchestrator.routing.intents import refers_back, split_intents
from meshline.orchestrator.routing.llm_stage import LlmChooser, RouteLlmError

if TYPE_CHECKING:  # settings stay light to import: the router's dependencies are not
    from meshline.orchestrator.settings import OrchestratorSettings

log = logging.getLogger(__name__)


def vote(neighbours: Sequence[Neighbour], temperature: float) -> tuple[str | None, float, float]:
    """(winner, its share of the similarity-weighted vote, the best similarity)."""
    if not neighbours:
        return None, 0.0, 0.0
    top = max(n.similarity for n in neighbours)
    scores: dict[str, float] = {}
    for n in neighbours:
        scores[n.agent] = scores.get(n.agent, 0.0) + math.exp((n.similarity - top) / temperature)
    winner = max(scores, key=lambda a: scores[a])
    return winner, scores[winner] / sum(scores.values()), top


@dataclass
class RoutePlan:
    """A decision plus what the graph and the evaluation tools need beyond the public contract."""

    decision: RouteDecision
    parts: dict[str, str] = field(default_factory=dict)  # agent -> the text it should handle
    examples_agent: str | None = None  # the nearest-example winner, whatever the final method
    examples_confidence: float = 0.0
    llm_called: bool = False
    llm_error: str | None = None
    latency_ms: float = 0.0


@dataclass
class RouterConfig:
    default_agent: str = "general"
    threshold: float = 0.7
    k: int = 10
    temperature: float = 0.05
    min_similarity: float = 0.3  # below this nothing is close: the examples do not vote at all
    switch_confidence: float = 0.8  # a follow-up leaves the thread's agent only this clearly

    @classmethod
    def from_settings(cls, settings: OrchestratorSettings) -> RouterConfig:
        """The tuning the orchestrator's settings give (the service and bench/routing.py share it)."""
        return cls(
            default_agent=settings.default_agent,
            threshold=settings.route_threshold,
            k=settings.route_k,
            temperature=settings.route_temperature,
            min_similarity=settings.route_min_similarity,
            switch_confidence=settings.route_switch_confidence,
        )


class Router:
    def __init__(
        self, index: RouteIndex, embedder: RouteEmbedder, config: RouterConfig, llm: LlmChooser | None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.config = config
        self.llm = llm

    async def route(self, message: str, agents: Sequence[Manifest], pinned: str | None = None) -> RouteDecision:
        """The decision alone (see :meth:`decide`)."""
        return (await self.decide(message, agents, pinned=pinned, use_llm=False)).decision

    async def decide(
        self,
        message: str,
        agents: Sequence[Manifest],
        *,
        pinned: str | None = None,
        previous: str | None = None,
        token: str | None = None,
        use_llm: bool = True,
    ) -> RoutePlan:
        start = time.perf_counter()
        plan = await self._decide(message, agents, pinned, previous, token, use_llm)
        plan.latency_ms = (time.perf_counter() - start) * 1000
        return plan

    async def _decide(
        self,
        message: str,
        agents: Sequence[Manifest],
        pinned: str | None,
        previous: str | None,
        token: str | None,
        use_llm: bool,
    ) -> RoutePlan:
        names = {a.name for a in agents}
        if pinned is not None:
            if pinned not in names:
                raise NotFound(f"no agent named {pinned!r} is registered", code="unknown_agent")
            return self._plan([pinned], "pinned", 1.0, message)
        if not agents:
            raise ServiceUnavailable("no agent is registered", code="no_agents")
        await self.index.sync(agents)
        parts = split_intents(message)
        texts = [message, *parts] if len(parts) > 1 else [message]
        vectors = np.asarray(await self.embedder.embed(texts), dtype=np.float32)
        votes = [self._vote(n) for n in self.index.nearest(vectors, self.config.k)]
        best, confidence = votes[0]
        multi = self._fan_out(parts, votes[1:])
        if multi is not None:
            multi.examples_agent, multi.examples_confidence = best, confidence
            return multi
        plan = self._single(message, best, confidence, previous if previous in names else None)
        if plan is None and use_llm and self.llm is not None and token is not None:
            plan = await self._ask_llm(message, agents, token, confidence)
        if plan is None and not use_llm and best is not None:
            plan = self._plan([best], "examples", confidence, message)  # the examples stage alone
        if plan is None:
            plan = self._plan([self._default(names)], "fallback", confidence, message)
        plan.examples_agent, plan.examples_confidence = best, confidence
        return plan

    def _vote(self, neighbours: list[Neighbour]) -> tuple[str | None, float]:
        winner, share, top = vote(neighbours, self.config.temperature)
        return (winner, share) if top >= self.config.min_similarity else (None, 0.0)

    def _single(self, message: str, best: str | None, confidence: float, previous: str | None) -> RoutePlan | None:
        if previous is not None:
            sure = confidence >= self.config.switch_confidence and not refers_back(message)
            if best is not None and best != previous and sure:
                return self._plan([best], "examples", confidence, message)
            if best == previous and confidence >= self.config.threshold:
                return self._plan([best], "examples", confidence, message)
            return self._plan([previous], "sticky", confidence if best == previous else 1.0 - confidence, message)
        if best is not None and confidence >= self.config.threshold:
            return self._plan([best], "examples", confidence, message)
        return None

    def _fan_out(self, parts: list[str], votes: list[tuple[str | None, float]]) -> RoutePlan | None:
        """Several agents when every part is confidently placed and they name 2+ different agents."""
        if len(parts) < 2 or any(a is None or c < self.config.threshold for a, c in votes):
            return None
        grouped: dict[str, list[str]] = {}
        for part, (agent, _) in zip(parts, votes, strict=True):
            assert agent is not None
            grouped.setdefault(agent, []).append(part)
        if len(grouped) < 2:
            return None
        confidence = min(c for _, c in votes)
        decision = RouteDecision(agents=list(grouped), method="examples", confidence=round(confidence, 3))
        return RoutePlan(decision, parts={a: ". ".join(p) for a, p in grouped.items()})

    async def _ask_llm(self, message: str, agents: Sequence[Manifest], token: str, confidence: float) -> RoutePlan:
        assert self.llm is not None
        names = {a.name for a in agents}
        try:
            choice = await self.llm.choose(message, agents, token)
        except RouteLlmError as exc:
            log.warning("LLM routing failed, falling back to %s: %s", self._default(names), exc.reason)
            plan = self._plan([self._default(names)], "fallback", confidence, message)
            plan.llm_called, plan.llm_error = True, exc.reason
            return plan
        # The LLM gives no probability; report the examples' confidence in its choice's stead.
        plan = self._plan([choice or self._default(names)], "llm", max(confidence, 0.5), message)
        plan.llm_called = True
        return plan

    def _default(self, names: set[str]) -> str:
        return self.config.default_agent if self.config.default_agent in names else sorted(names)[0]

    @staticmethod
    def _plan(agents: list[str], method: str, confidence: float, message: str) -> RoutePlan:
        decision = RouteDecision.model_validate(
            {"agents": agents, "method": method, "confidence": round(min(1.0, max(0.0, confidence)), 3)}
        )
        return RoutePlan(decision, parts={agents[0]: message})
