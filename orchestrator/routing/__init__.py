"""The semantic router: nearest routing examples vote; the LLM decides only when they are unsure.

:class:`Router` decides a turn's agents (:class:`RoutePlan`) from a :class:`RouteIndex` of the
registered agents' examples, embedded by a :class:`RouteEmbedder`, asking the LLM stage
(:class:`LlmChooser`) below the confidence threshold. :func:`build_router` assembles it from the
orchestrator's settings. The evaluation helpers (:func:`load_labelled`, :func:`score`, ...) score
it on labelled messages for ``meshline routes`` and bench/routing.py.
"""

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
