"""The semantic router: nearest routing examples vote; the LLM decides only when they are unsure.

:class:`Router` decides a turn's agents (:class:`RoutePlan`) from a :class:`RouteIndex` of the
registered agents' examples, embedded by a :class:`RouteEmbedder`, asking the LLM stage
(:class:`LlmChooser`) below the confidence threshold. :func:`build_router` assembles it from the
orchestrator's settings. The evaluation helpers (:func:`load_labelled`, :func:`score`, ...) score
it on labelled messages for ``meshline routes`` and bench/routing.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.orchestrator.routing.embedder import RouteEmbedder, TracedMiniLM
    from meshline.orchestrator.routing.evaluation import (
        LabelError,
        LabelledMessage,
        Outcome,
        confusion_by_intent,
        fit_selection,
        load_labelled,
        load_labels,
        score,
    )
    from meshline.orchestrator.routing.factory import build_router
    from meshline.orchestrator.routing.index import Neighbour, RouteIndex
    from meshline.orchestrator.routing.intents import refers_back, split_intents
    from meshline.orchestrator.routing.llm_stage import LlmChooser, RouteLlmError
    from meshline.orchestrator.routing.router import RoutePlan, Router, RouterConfig, vote

__all__ = [
    "LabelError",
    "LabelledMessage",
    "LlmChooser",
    "Neighbour",
    "Outcome",
    "RouteEmbedder",
    "RouteIndex",
    "RouteLlmError",
    "RoutePlan",
    "Router",
    "RouterConfig",
    "TracedMiniLM",
    "build_router",
    "confusion_by_intent",
    "fit_selection",
    "load_labelled",
    "load_labels",
    "refers_back",
    "score",
    "split_intents",
    "vote",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "LabelError": "meshline.orchestrator.routing.evaluation",
        "LabelledMessage": "meshline.orchestrator.routing.evaluation",
        "LlmChooser": "meshline.orchestrator.routing.llm_stage",
        "Neighbour": "meshline.orchestrator.routing.index",
        "Outcome": "meshline.orchestrator.routing.evaluation",
        "RouteEmbedder": "meshline.orchestrator.routing.embedder",
        "RouteIndex": "meshline.orchestrator.routing.index",
        "RouteLlmError": "meshline.orchestrator.routing.llm_stage",
        "RoutePlan": "meshline.orchestrator.routing.router",
        "Router": "meshline.orchestrator.routing.router",
        "RouterConfig": "meshline.orchestrator.routing.router",
        "TracedMiniLM": "meshline.orchestrator.routing.embedder",
        "build_router": "meshline.orchestrator.routing.factory",
        "confusion_by_intent": "meshline.orchestrator.routing.evaluation",
        "fit_selection": "meshline.orchestrator.routing.evaluation",
        "load_labelled": "meshline.orchestrator.routing.evaluation",
        "load_labels": "meshline.orchestrator.routing.evaluation",
        "refers_back": "meshline.orchestrator.routing.intents",
        "score": "meshline.orchestrator.routing.evaluation",
        "split_intents": "meshline.orchestrator.routing.intents",
        "vote": "meshline.orchestrator.routing.router",
    },
)
