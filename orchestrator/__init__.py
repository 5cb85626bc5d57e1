"""orchestrator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.orchestrator.routing import (
        LabelError,
        LabelledMessage,
        Outcome,
        RouteEmbedder,
        RouteIndex,
        Router,
        RouterConfig,
        TracedMiniLM,
        confusion_by_intent,
        fit_selection,
        load_labelled,
        load_labels,
        score,
        vote,
    )
    from meshline.orchestrator.settings import OrchestratorSettings

__all__ = [
    "LabelError",
    "LabelledMessage",
    "OrchestratorSettings",
    "Outcome",
    "RouteEmbedder",
    "RouteIndex",
    "Router",
    "RouterConfig",
    "TracedMiniLM",
    "confusion_by_intent",
    "fit_selection",
    "load_labelled",
    "load_labels",
    "score",
    "vote",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "LabelError": "meshline.orchestrator.routing",
        "LabelledMessage": "meshline.orchestrator.routing",
        "OrchestratorSettings": "meshline.orchestrator.settings",
        "Outcome": "meshline.orchestrator.routing",
        "RouteEmbedder": "meshline.orchestrator.routing",
        "RouteIndex": "meshline.orchestrator.routing",
        "Router": "meshline.orchestrator.routing",
        "RouterConfig": "meshline.orchestrator.routing",
        "TracedMiniLM": "meshline.orchestrator.routing",
        "confusion_by_intent": "meshline.orchestrator.routing",
        "fit_selection": "meshline.orchestrator.routing",
        "load_labelled": "meshline.orchestrator.routing",
        "load_labels": "meshline.orchestrator.routing",
        "score": "meshline.orchestrator.routing",
        "vote": "meshline.orchestrator.routing",
    },
)
